using WapBackup.Local.Lambda;
using WapBackup.Local.Tables;

namespace WapBackup.Functions.Tests.StepFunctions;

public sealed class LambdaHandlersTests
{
    [Fact]
    public void Every_handler_in_the_template_names_a_public_stream_method_the_runtime_can_call()
    {
        var handlers = System.Text.RegularExpressions.Regex.Matches(TemplateTables.ReadTemplate(), @"^\s+Handler:\s*(\S+)\s*$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(handlers);
        foreach (string handler in handlers)
        {
            var method = LambdaHandlers.Find(handler);
            Assert.True(method.IsPublic, handler);
        }
    }

    [Theory]
    [InlineData("WapBackup.Functions::WapBackup.Functions.ApiFunction", "must be Assembly::Namespace.Type::Method")]
    [InlineData("No.Such.Assembly::X.Y::Z", "assembly No.Such.Assembly is not found")]
    [InlineData("WapBackup.Functions::WapBackup.Functions.Nope::HandleAsync", "type WapBackup.Functions.Nope is not in")]
    [InlineData("WapBackup.Functions::WapBackup.Functions.ApiFunction::CreateHandler", "has no public method CreateHandler(Stream)")]
    public void A_handler_that_the_runtime_could_not_call_is_refused_naming_it(string handler, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => LambdaHandlers.Find(handler));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
