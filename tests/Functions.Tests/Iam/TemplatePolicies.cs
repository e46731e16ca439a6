using System.Text.Json.Nodes;

namespace WapBackup.Functions.Tests.Iam;

/// <summary>One allowed action on one resource; for KMS, the service it must come through (<c>kms:ViaService</c>).</summary>
internal sealed record Grant(string Action, string Resource, string? ViaService = null)
{
    public override string ToString() => ViaService is null ? $"{Action} on {Resource}" : $"{Action} on {Resource} via {ViaService}";
}

/// <summary>
/// The IAM statements of template.yaml with the intrinsics (Ref, Fn::Sub, Fn::GetAtt, Fn::Join,
/// Fn::Split) evaluated for sample parameter values, as <see cref="Grant"/>s. Fails loudly on
/// anything it cannot evaluate (a policy it cannot read is a policy the test cannot check).
/// </summary>
internal sealed class TemplatePolicies
{
    public const string Region = "us-east-1";
    public const string Account = "123456789012";

    private readonly JsonNode _template;
    private readonly IReadOnlyDictionary<string, JsonNode> _parameters;

    public TemplatePolicies(JsonNode template, IReadOnlyDictionary<string, string> parameters)
    {
        _template = template;
        var values = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
        foreach ((string name, JsonNode? definition) in template["Parameters"]!.AsObject())
        {
            string? value = parameters.TryGetValue(name, out string? given) ? given : definition!["Default"]?.GetValue<string>();
            Assert.True(value is not null, $"template parameter {name} has no default: give the test a value");
            values[name] = definition!["Type"]!.GetValue<string>() == "CommaDelimitedList"
                ? new JsonArray([.. value.Split(',').Select(v => (JsonNode)JsonValue.Create(v.Trim()))])
                : JsonValue.Create(value);
        }
        _parameters = values;
    }

    public string Arn(string logicalId) => Attribute(logicalId, "Arn");

    /// <summary>The resources of a type, as <c>Ref</c> evaluates them here (their logical ids).</summary>
    public IEnumerable<string> LogicalIdsOfType(string type) =>
        _template["Resources"]!.AsObject().Where(r => r.Value?["Type"]?.GetValue<string>() == type).Select(r => r.Key);

    /// <summary>
    /// The grants of a list of policy documents (a function's <c>Policies</c>, a managed policy's <c>PolicyDocument</c>).
    /// <paramref name="withoutResourceLevel"/>: actions IAM grants on "*" only (no resource-level permissions).
    /// </summary>
    public IReadOnlyList<Grant> Grants(string component, IEnumerable<JsonNode> documents, IReadOnlySet<string>? withoutResourceLevel = null)
    {
        var grants = new List<Grant>();
        foreach (JsonNode document in documents)
        {
            Assert.True(document is JsonObject, $"{component}: policy {document.ToJsonString()} is not an inline policy document (SAM policy templates and managed policies cannot be checked)");
            foreach (JsonNode? statement in document["Statement"]!.AsArray())
            {
                string sid = statement!["Sid"]?.GetValue<string>() ?? "(no Sid)";
                Assert.Equal("Allow", statement["Effect"]!.GetValue<string>());
                Assert.True(statement["NotAction"] is null && statement["NotResource"] is null, $"{component} {sid}: NotAction/NotResource cannot be least privilege");
                string? via = ViaService(component, sid, statement["Condition"]);
                foreach (string action in Strings(Evaluate(statement["Action"]!)))
                {
                    Assert.False(action.Contains('*', StringComparison.Ordinal), $"{component} {sid}: action {action} is a wildcard");
                    foreach (string resource in Strings(Evaluate(statement["Resource"]!)))
                    {
                        Assert.False(resource == "*" && withoutResourceLevel?.Contains(action) != true, $"{component} {sid}: {action} on every resource");
                        grants.Add(new Grant(action, resource, action.StartsWith("kms:", StringComparison.Ordinal) ? via : null));
                    }
                }
            }
        }
        return grants;
    }

    /// <summary>The statements of the ApiFunction-style resource's <c>Policies</c> or a managed policy's document.</summary>
    public IEnumerable<JsonNode> PolicyDocuments(string logicalId)
    {
        JsonNode properties = _template["Resources"]![logicalId]!["Properties"]!;
        if (properties["PolicyDocument"] is { } document)
        {
            return [document];
        }
        return properties["Policies"] switch
        {
            JsonArray list => list.Select(p => p!),
            JsonObject single => [single],
            _ => [],
        };
    }

    /// <summary>The evaluated environment variables of a function (Globals and its own).</summary>
    public IReadOnlyDictionary<string, string> Environment(string logicalId)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonNode? source in new[] { _template["Globals"]?["Function"], _template["Resources"]![logicalId]!["Properties"] })
        {
            if (source?["Environment"]?["Variables"] is JsonObject own)
            {
                foreach ((string name, JsonNode? value) in own)
                {
                    variables[name] = Evaluate(value!).GetValue<string>();
                }
            }
        }
        return variables;
    }

    private string? ViaService(string component, string sid, JsonNode? condition)
    {
        if (condition?["StringEquals"]?["kms:ViaService"] is not { } via)
        {
            return null;
        }
        return Evaluate(via) is JsonValue value
            ? value.GetValue<string>()
            : throw new Xunit.Sdk.XunitException($"{component} {sid}: kms:ViaService must name one service");
    }

    private JsonNode Evaluate(JsonNode node)
    {
        if (node is JsonArray array)
        {
            return new JsonArray([.. array.SelectMany(item => Evaluate(item!) is JsonArray inner ? inner.Select(i => i!.DeepClone()) : [Evaluate(item!)])]);
        }
        if (node is not JsonObject intrinsic)
        {
            return node.DeepClone();
        }
        Assert.True(intrinsic.Count == 1, $"not an intrinsic function: {node.ToJsonString()}");
        (string function, JsonNode? argument) = intrinsic.First();
        switch (function)
        {
            case "Ref":
                return Reference(argument!.GetValue<string>());
            case "Fn::GetAtt":
                string[] parts = argument is JsonArray pair ? [pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()] : argument!.GetValue<string>().Split('.', 2);
                return JsonValue.Create(Attribute(parts[0], parts[1]));
            case "Fn::Sub":
                return JsonValue.Create(Substitute(argument!));
            case "Fn::Join":
                string delimiter = argument![0]!.GetValue<string>();
                return JsonValue.Create(string.Join(delimiter, Strings(Evaluate(argument[1]!))));
            case "Fn::Split":
                string separator = argument![0]!.GetValue<string>();
                return new JsonArray([.. Evaluate(argument[1]!).GetValue<string>().Split(separator).Select(s => (JsonNode)JsonValue.Create(s))]);
            default:
                throw new Xunit.Sdk.XunitException($"the IAM test cannot evaluate {function}: extend TemplatePolicies");
        }
    }

    private JsonNode Reference(string name)
    {
        if (_parameters.TryGetValue(name, out JsonNode? value))
        {
            return value.DeepClone();
        }
        return name switch
        {
            "AWS::Partition" => JsonValue.Create("aws"),
            "AWS::Region" => JsonValue.Create(Region),
            "AWS::AccountId" => JsonValue.Create(Account),
            "AWS::URLSuffix" => JsonValue.Create("amazonaws.com"),
            _ when _template["Resources"]![name] is not null => JsonValue.Create(name), // physical name = logical id here
            _ => throw new Xunit.Sdk.XunitException($"Ref {name}: no such parameter or resource"),
        };
    }

    private string Attribute(string logicalId, string attribute)
    {
        string type = _template["Resources"]![logicalId]?["Type"]?.GetValue<string>() ?? throw new Xunit.Sdk.XunitException($"GetAtt {logicalId}: no such resource");
        return (type, attribute) switch
        {
            ("AWS::DynamoDB::Table", "Arn") => $"arn:aws:dynamodb:{Region}:{Account}:table/{logicalId}",
            ("AWS::KMS::Key", "Arn") => $"arn:aws:kms:{Region}:{Account}:key/{logicalId}",
            ("AWS::Serverless::Function", "Arn") => $"arn:aws:lambda:{Region}:{Account}:function:{logicalId}",
            ("AWS::Logs::LogGroup", "Arn") => $"arn:aws:logs:{Region}:{Account}:log-group:{logicalId}:*",
            _ => throw new Xunit.Sdk.XunitException($"the IAM test cannot evaluate GetAtt {logicalId}.{attribute} ({type})"),
        };
    }

    private string Substitute(JsonNode argument)
    {
        string text;
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        if (argument is JsonArray pair)
        {
            text = pair[0]!.GetValue<string>();
            foreach ((string name, JsonNode? value) in pair[1]!.AsObject())
            {
                variables[name] = Evaluate(value!).GetValue<string>();
            }
        }
        else
        {
            text = argument.GetValue<string>();
        }
        return System.Text.RegularExpressions.Regex.Replace(text, @"\$\{(!?)([^}]+)\}", match =>
        {
            string name = match.Groups[2].Value;
            if (match.Groups[1].Value == "!")
            {
                return "${" + name + "}";
            }
            if (variables.TryGetValue(name, out string? variable))
            {
                return variable;
            }
            return name.Contains('.', StringComparison.Ordinal) && !name.StartsWith("AWS::", StringComparison.Ordinal)
                ? Attribute(name.Split('.', 2)[0], name.Split('.', 2)[1])
                : Reference(name).GetValue<string>();
        });
    }

    private static IEnumerable<string> Strings(JsonNode node) =>
        node is JsonArray array ? array.Select(n => n!.GetValue<string>()) : [node.GetValue<string>()];
}
