using WapBackup.Shared.Ports;

namespace WapBackup.Ddt.Host.Tests.Support;

/// <summary>One secret parameter; any other name is not found. Counts the reads.</summary>
internal sealed class FixedSecrets(string name, string value) : ISecretParameters
{
    public int Reads { get; private set; }

    public Task<string> GetAsync(string parameter, CancellationToken cancellationToken)
    {
        Reads++;
        return parameter == name ? Task.FromResult(value) : throw new NotFoundException("parameter", parameter);
    }
}
