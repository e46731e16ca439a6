using System.Text.Json;
using WapBackup.Shared.Logging;

namespace WapBackup.Shared.Tests.Logging;

public sealed class JsonLineLoggerTests
{
    [Fact]
    public void One_json_object_a_line_with_secrets_redacted_in_message_and_fields()
    {
        var output = new StringWriter();
        var logger = new JsonLineLogger(output, TimeProvider.System, "capture");
        logger.Error("driver said: mongodb://admin:s3cret@db.example:27017/?x=1 timed out",
            new Dictionary<string, string> { ["detail"] = "{\"secretAccessKey\": \"AKIAxyz/abc\"}", ["plain"] = "kept" });
        logger.For("mirror").Info("second line");

        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal("error", first.RootElement.GetProperty("level").GetString());
        Assert.Equal("capture", first.RootElement.GetProperty("component").GetString());
        string message = first.RootElement.GetProperty("message").GetString()!;
        Assert.DoesNotContain("s3cret", message, StringComparison.Ordinal);
        Assert.Contains("mongodb://***@db.example:27017", message, StringComparison.Ordinal);
        Assert.DoesNotContain("AKIAxyz/abc", first.RootElement.GetProperty("detail").GetString()!, StringComparison.Ordinal);
        Assert.Equal("kept", first.RootElement.GetProperty("plain").GetString());
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal("mirror", second.RootElement.GetProperty("component").GetString());
    }

    [Theory]
    [InlineData("password=hunter2&x=1", "hunter2")]
    [InlineData("mongodb+srv://u:p%40ss@cluster0/db", "p%40ss")]
    [InlineData("\"sessionToken\":\"tok\"", "tok")]
    public void Redaction_removes_the_secret(string text, string secret)
    {
        Assert.DoesNotContain(secret, SecretRedaction.Redact(text), StringComparison.Ordinal);
    }
}
