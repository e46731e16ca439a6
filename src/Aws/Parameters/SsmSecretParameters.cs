using Amazon.SimpleSystemsManagement;
using Amazon.SimpleSystemsManagement.Model;
using WapBackup.Shared.Ports;

namespace WapBackup.Aws.Parameters;

/// <summary>SecureString parameters from SSM Parameter Store, decrypted. Never logs values.</summary>
public sealed class SsmSecretParameters(IAmazonSimpleSystemsManagement ssm) : ISecretParameters
{
    public async Task<string> GetAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var response = await ssm.GetParameterAsync(new GetParameterRequest { Name = name, WithDecryption = true }, cancellationToken)
                .ConfigureAwait(false);
            return response.Parameter.Value;
        }
        catch (ParameterNotFoundException)
        {
            throw new NotFoundException("parameter", name);
        }
    }
}
