namespace WapBackup.Shared.Ports;

/// <summary>
/// Reads secret parameters by name (in AWS: SSM SecureString, decrypted). Values are secrets:
/// never log them, never put them in errors or DynamoDB items.
/// </summary>
public interface ISecretParameters
{
    /// <summary>The decrypted value, or throws <see cref="NotFoundException"/> (entity "parameter").</summary>
    Task<string> GetAsync(string name, CancellationToken cancellationToken);
}
