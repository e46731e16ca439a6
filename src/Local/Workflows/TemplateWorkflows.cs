using System.Text.RegularExpressions;
using WapBackup.Local.Ssm;
using YamlDotNet.RepresentationModel;

namespace WapBackup.Local.Workflows;

/// <summary>One <c>AWS::Serverless::StateMachine</c> of template.yaml with its substitutions evaluated for the local cloud.</summary>
public sealed record LocalStateMachine(string LogicalId, string DefinitionFile, IReadOnlyDictionary<string, string> Substitutions)
{
    /// <summary>The local engine names a machine by its logical id (its ARN ends in it).</summary>
    public string Arn => $"arn:aws:states:{ParameterStore.Region}:{ParameterStore.AccountId}:stateMachine:{LogicalId}";
}

/// <summary>
/// The workflows of template.yaml for the local cloud: the state machines (DefinitionUri and
/// DefinitionSubstitutions, with <c>!Ref</c> of a parameter = its default, <c>!Ref</c> of a resource = its
/// logical id, <c>!GetAtt F.Arn</c> of a function = the local Lambda ARN named by its logical id), the
/// Command documents (name = logical id, verbs and patterns from their parameters) and the functions' handlers.
/// Anything else fails naming it: the local cloud runs what the template says or nothing.
/// </summary>
public sealed class TemplateWorkflows
{
    private readonly YamlMappingNode _resources;
    private readonly YamlMappingNode _parameters;

    public TemplateWorkflows(string templateYaml)
    {
        var yaml = new YamlStream();
        using (var reader = new StringReader(templateYaml))
        {
            yaml.Load(reader);
        }
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        _resources = (YamlMappingNode)root[new YamlScalarNode("Resources")];
        _parameters = (YamlMappingNode)root[new YamlScalarNode("Parameters")];
    }

    public static string FunctionArn(string logicalId) => $"arn:aws:lambda:{ParameterStore.Region}:{ParameterStore.AccountId}:function:{logicalId}";

    /// <summary>The state machines; <paramref name="parameters"/> overrides parameter defaults (tests shorten the polls).</summary>
    public IReadOnlyList<LocalStateMachine> StateMachines(string repositoryRoot, IReadOnlyDictionary<string, string>? parameters = null) =>
        [.. Of("AWS::Serverless::StateMachine").Select(r =>
        {
            var properties = (YamlMappingNode)r.Resource[new YamlScalarNode("Properties")];
            string uri = ((YamlScalarNode)properties[new YamlScalarNode("DefinitionUri")]).Value!;
            var substitutions = new Dictionary<string, string>(StringComparer.Ordinal);
            if (properties.Children.TryGetValue(new YamlScalarNode("DefinitionSubstitutions"), out YamlNode? node))
            {
                foreach ((YamlNode key, YamlNode value) in ((YamlMappingNode)node).Children)
                {
                    string name = ((YamlScalarNode)key).Value!;
                    substitutions[name] = Evaluate((YamlScalarNode)value, parameters, $"{r.LogicalId}.DefinitionSubstitutions.{name}");
                }
            }
            return new LocalStateMachine(r.LogicalId, Path.Combine(repositoryRoot, uri), substitutions);
        })];

    /// <summary>The Command documents that run ddt (parameters Verb, Arguments, TaskId).</summary>
    public IReadOnlyList<CommandDocument> CommandDocuments() =>
        [.. Of("AWS::SSM::Document").Select(r =>
        {
            var content = (YamlMappingNode)((YamlMappingNode)r.Resource[new YamlScalarNode("Properties")])[new YamlScalarNode("Content")];
            var parameters = (YamlMappingNode)content[new YamlScalarNode("parameters")];
            YamlMappingNode Parameter(string name) => (YamlMappingNode)parameters[new YamlScalarNode(name)];
            var verbs = ((YamlSequenceNode)Parameter("Verb")[new YamlScalarNode("allowedValues")]).Children.Select(v => ((YamlScalarNode)v).Value!).ToList();
            Regex Pattern(string name) => new(((YamlScalarNode)Parameter(name)[new YamlScalarNode("allowedPattern")]).Value!, RegexOptions.CultureInvariant);
            return new CommandDocument(r.LogicalId, verbs, Pattern("Arguments"), Pattern("TaskId"));
        })];

    /// <summary>The SAM <c>Handler</c> of each function, by logical id.</summary>
    public IReadOnlyDictionary<string, string> FunctionHandlers() =>
        Of("AWS::Serverless::Function").ToDictionary(r => r.LogicalId,
            r => ((YamlScalarNode)((YamlMappingNode)r.Resource[new YamlScalarNode("Properties")])[new YamlScalarNode("Handler")]).Value!);

    private IEnumerable<(string LogicalId, YamlMappingNode Resource)> Of(string type) =>
        _resources.Children
            .Where(c => c.Value is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode("Type"), out YamlNode? t) && ((YamlScalarNode)t).Value == type)
            .Select(c => (((YamlScalarNode)c.Key).Value!, (YamlMappingNode)c.Value));

    private string Evaluate(YamlScalarNode value, IReadOnlyDictionary<string, string>? overrides, string where)
    {
        string text = value.Value!;
        switch (value.Tag.IsEmpty ? "" : value.Tag.Value)
        {
            case "":
                return text;
            case "!Ref" when _parameters.Children.TryGetValue(new YamlScalarNode(text), out YamlNode? parameter):
                if (overrides?.TryGetValue(text, out string? given) == true)
                {
                    return given;
                }
                return ((YamlMappingNode)parameter).Children.TryGetValue(new YamlScalarNode("Default"), out YamlNode? d)
                    ? ((YamlScalarNode)d).Value!
                    : throw new InvalidOperationException($"{where}: parameter {text} has no default and no local value");
            case "!Ref" when Of("AWS::Serverless::StateMachine").Any(m => m.LogicalId == text):
                // A state machine's Ref is its ARN; the local engine names each machine by its logical id.
                return $"arn:aws:states:{ParameterStore.Region}:{ParameterStore.AccountId}:stateMachine:{text}";
            case "!Ref" when _resources.Children.ContainsKey(new YamlScalarNode(text)):
                return text;
            case "!GetAtt" when text.EndsWith(".Arn", StringComparison.Ordinal) && Of("AWS::Serverless::Function").Any(f => f.LogicalId == text[..^4]):
                return FunctionArn(text[..^4]);
            default:
                throw new InvalidOperationException($"{where}: the local cloud cannot evaluate {value.Tag} {text}");
        }
    }
}
