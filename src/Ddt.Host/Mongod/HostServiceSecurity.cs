using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MongoDB.Driver;

namespace WapBackup.Ddt.Mongod;

/// <summary>
/// The credential and TLS a client of the host's services uses: the one place both <c>ddt mongod</c> (its readiness wait)
/// and every verb (<see cref="Cli.HostServiceConnections"/>) put them on their <see cref="MongoClientSettings"/>.
/// </summary>
/// <param name="Credentials">The administrator; null: no authorization.</param>
/// <param name="CaFile">The CA the services' certificate must chain to; null: no TLS.</param>
public sealed record HostServiceSecurity(MongodCredentials? Credentials, string? CaFile)
{
    public static HostServiceSecurity None { get; } = new(null, null);

    /// <exception cref="HostServiceAccessException">The CA file cannot be read or holds no certificate.</exception>
    public void ApplyTo(MongoClientSettings settings)
    {
        if (Credentials is { } credentials)
        {
            settings.Credential = MongoCredential.CreateCredential("admin", credentials.Username, credentials.Password);
        }
        if (CaFile is { } caFile)
        {
            X509Certificate2 ca;
            try
            {
                ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new HostServiceAccessException($"the CA file {caFile} of the host's 47019/57019 services cannot be read as a certificate: {e.Message}", e);
            }
            settings.UseTls = true;
            // The certificate names the host as others reach it (not 127.0.0.1, not always mongoHost): trust the configured CA, not the name.
            settings.SslSettings = new SslSettings
            {
                ServerCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                },
            };
        }
    }
}
