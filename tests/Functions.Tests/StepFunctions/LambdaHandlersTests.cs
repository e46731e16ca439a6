using WapBackup.Local.Lambda;

namespace WapBackup.Functions.Tests.StepFunctions;

/// <summary>Handler strings the runtime could not call are refused (every template handler resolves: TemplateTests).</summary>
public sealed class LambdaHandlersTests
{
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
