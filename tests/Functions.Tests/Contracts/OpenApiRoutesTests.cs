using WapBackup.Functions.Api;
using WapBackup.Testing;
using YamlDotNet.RepresentationModel;

namespace WapBackup.Functions.Tests.Contracts;

public sealed class OpenApiRoutesTests
{
    private static readonly string[] HttpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    [Fact]
    public void SpecifiedRoutesEqualServedRoutes()
    {
        var yaml = new YamlStream();
        using (var reader = File.OpenText(Path.Combine(RepositoryRoot.Path, "docs", "api", "openapi.yaml")))
        {
            yaml.Load(reader);
        }
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var paths = (YamlMappingNode)root[new YamlScalarNode("paths")];
        var specified = new List<string>();
        foreach ((YamlNode path, YamlNode item) in paths.Children)
        {
            foreach (YamlNode key in ((YamlMappingNode)item).Children.Keys)
            {
                string name = ((YamlScalarNode)key).Value!;
                if (HttpMethods.Contains(name))
                {
                    specified.Add($"{name.ToUpperInvariant()} {((YamlScalarNode)path).Value}");
                }
            }
        }
        string[] served = [.. ApiRoutes.All.Select(r => $"{r.Method} {r.Template}")];

        Assert.Equal(served.Order(StringComparer.Ordinal), specified.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EveryServedTemplateIsMatchedByTheRouter()
    {
        foreach (ApiRoute route in ApiRoutes.All)
        {
            string path = route.Template.Replace("{id}", "x-1", StringComparison.Ordinal);
            RouteMatch? match = ApiRoutes.Match(path);
            Assert.NotNull(match);
            Assert.Equal(route.Template, match.Template);
            Assert.Contains(route, match.Routes);
        }
    }
}
