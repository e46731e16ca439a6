using System.Reflection;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using WapBackup.Aws.Store;
using YamlDotNet.RepresentationModel;

namespace WapBackup.Local.Tables;

/// <summary>
/// The DynamoDB tables as template.yaml defines them (embedded at build time), turned into
/// CreateTable requests. template.yaml is the one definition: deployed stacks, the local stack
/// and the tests all get the same keys and indexes.
/// </summary>
public static class TemplateTables
{
    /// <summary>The <c>AWS::DynamoDB::Table</c> resources of template.yaml, by logical id, with the table name unset.</summary>
    public static IReadOnlyDictionary<string, CreateTableRequest> Definitions { get; } = Load(ReadTemplate());

    /// <summary>Creates every store table under the names in <paramref name="tables"/> (which map to the logical ids).</summary>
    public static async Task CreateAllAsync(IAmazonDynamoDB dynamo, StoreTables tables, CancellationToken cancellationToken)
    {
        var names = new Dictionary<string, string>
        {
            [StoreTables.LogicalIds.Repositories] = tables.Repositories,
            [StoreTables.LogicalIds.RepositoryNames] = tables.RepositoryNames,
            [StoreTables.LogicalIds.Tasks] = tables.Tasks,
            [StoreTables.LogicalIds.TaskEvents] = tables.TaskEvents,
            [StoreTables.LogicalIds.Snapshots] = tables.Snapshots,
        };
        if (tables.Schedules is { } schedules)
        {
            names[StoreTables.LogicalIds.Schedules!] = schedules;
        }
        foreach ((string logicalId, string name) in names)
        {
            if (!Definitions.TryGetValue(logicalId, out CreateTableRequest? definition))
            {
                throw new InvalidOperationException($"template.yaml has no AWS::DynamoDB::Table named {logicalId}");
            }
            await dynamo.CreateTableAsync(WithName(definition, name), cancellationToken).ConfigureAwait(false);
        }
        foreach (string name in names.Values)
        {
            await WaitUntilActiveAsync(dynamo, name, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>CreateTable returns while the table is CREATING; reads and writes fail until it is ACTIVE.</summary>
    private static async Task WaitUntilActiveAsync(IAmazonDynamoDB dynamo, string name, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 600; attempt++)
        {
            var description = await dynamo.DescribeTableAsync(name, cancellationToken).ConfigureAwait(false);
            if (description.Table.TableStatus == TableStatus.ACTIVE)
            {
                return;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }
        throw new TimeoutException($"DynamoDB table {name} did not become ACTIVE within 30 s");
    }

    public static string ReadTemplate()
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("template.yaml")
            ?? throw new InvalidOperationException("template.yaml is not embedded in WapBackup.Local");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Parses the tables out of a SAM/CloudFormation template (CloudFormation tags such as !Ref are kept as plain nodes).</summary>
    public static IReadOnlyDictionary<string, CreateTableRequest> Load(string templateYaml)
    {
        var yaml = new YamlStream();
        using (var reader = new StringReader(templateYaml))
        {
            yaml.Load(reader);
        }
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var resources = (YamlMappingNode)root[new YamlScalarNode("Resources")];
        var tables = new Dictionary<string, CreateTableRequest>(StringComparer.Ordinal);
        foreach ((YamlNode key, YamlNode value) in resources.Children)
        {
            if (value is YamlMappingNode resource && Scalar(resource, "Type") == "AWS::DynamoDB::Table")
            {
                tables.Add(((YamlScalarNode)key).Value!, ToRequest((YamlMappingNode)resource[new YamlScalarNode("Properties")]));
            }
        }
        return tables;
    }

    private static CreateTableRequest ToRequest(YamlMappingNode properties)
    {
        var request = new CreateTableRequest
        {
            BillingMode = new BillingMode(Scalar(properties, "BillingMode") ?? "PAY_PER_REQUEST"),
            AttributeDefinitions = Sequence(properties, "AttributeDefinitions")
                .Select(a => new AttributeDefinition(Scalar(a, "AttributeName"), new ScalarAttributeType(Scalar(a, "AttributeType"))))
                .ToList(),
            KeySchema = KeySchema(properties),
        };
        var indexes = Sequence(properties, "GlobalSecondaryIndexes").Select(index => new GlobalSecondaryIndex
        {
            IndexName = Scalar(index, "IndexName"),
            KeySchema = KeySchema(index),
            Projection = new Projection
            {
                ProjectionType = new ProjectionType(Scalar((YamlMappingNode)index[new YamlScalarNode("Projection")], "ProjectionType")),
            },
        }).ToList();
        if (indexes.Count > 0)
        {
            request.GlobalSecondaryIndexes = indexes;
        }
        return request;
    }

    private static List<KeySchemaElement> KeySchema(YamlMappingNode node) =>
        Sequence(node, "KeySchema")
            .Select(k => new KeySchemaElement(Scalar(k, "AttributeName"), new KeyType(Scalar(k, "KeyType"))))
            .ToList();

    private static CreateTableRequest WithName(CreateTableRequest definition, string name) => new()
    {
        TableName = name,
        BillingMode = definition.BillingMode,
        AttributeDefinitions = definition.AttributeDefinitions,
        KeySchema = definition.KeySchema,
        GlobalSecondaryIndexes = definition.GlobalSecondaryIndexes,
    };

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value) ? ((YamlScalarNode)value).Value : null;

    private static IEnumerable<YamlMappingNode> Sequence(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? value)
            ? ((YamlSequenceNode)value).Children.Cast<YamlMappingNode>()
            : [];
}
