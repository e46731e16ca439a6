using System.Text.Json;
using System.Text.Json.Serialization;

namespace WapBackup.Ddt.Mongod;

/// <summary>
/// How the host's 47019/57019 services are reached, as <c>ddt mongod</c> set them up: <c>&lt;ConfigDirectory&gt;/access.json</c>
/// beside their config files, read by every verb (<see cref="Cli.HostServiceConnections"/>). Holds the NAME of the SSM
/// parameter with the credentials, never them, so it is world-readable (0644) like the config files.
/// </summary>
/// <param name="BindIp">The addresses the services listen on (127.0.0.1 first).</param>
/// <param name="CredentialsParameter">The SSM SecureString with the administrator; null: authorization is off.</param>
/// <param name="TlsCaFile">The CA of the services' certificate; null: no TLS.</param>
public sealed record HostServiceAccess(IReadOnlyList<string> BindIp, string? CredentialsParameter, string? TlsCaFile)
{
    public const string FileName = "access.json";

    /// <summary>Where the verbs look for it: beside the default config files.</summary>
    public static string DefaultPath { get; } = PathIn(MongodLayout.Default.ConfigDirectory);

    public static string PathIn(string configDirectory) => Path.Combine(configDirectory, FileName);

    public static HostServiceAccess From(MongodAccess access) => new(access.BindIps, access.CredentialsParameter, access.Tls?.CaFile);

    public string Render() => JsonSerializer.Serialize(this, HostServiceAccessJsonContext.Default.HostServiceAccess) + "\n";

    /// <summary>The file at <paramref name="path"/>; null when there is none (services set up before it existed, or not by <c>ddt mongod</c>).</summary>
    /// <exception cref="HostServiceAccessException">It exists but cannot be read or is not what <c>ddt mongod</c> writes.</exception>
    public static HostServiceAccess? Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HostServiceAccessException($"{path} (how the host's 47019/57019 services are reached) cannot be read: {e.Message}", e);
        }
        HostServiceAccess? access;
        try
        {
            access = JsonSerializer.Deserialize(text, HostServiceAccessJsonContext.Default.HostServiceAccess);
        }
        catch (JsonException e)
        {
            throw new HostServiceAccessException($"{path} is not the access file ddt mongod writes ({e.Message}): run ddt mongod again", e);
        }
        if (access is null || access.BindIp is not { Count: > 0 } || access.CredentialsParameter is "" || access.TlsCaFile is "")
        {
            throw new HostServiceAccessException($"{path} is not the access file ddt mongod writes (bindIp must list at least one address, "
                + "credentialsParameter and tlsCaFile are null or non-empty): run ddt mongod again");
        }
        return access;
    }
}

/// <summary>The host's services cannot be reached as <c>access.json</c> says (the file, its credentials parameter or CA file); never holds a secret.</summary>
public sealed class HostServiceAccessException(string message, Exception? inner = null) : Exception(message, inner);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(HostServiceAccess))]
internal sealed partial class HostServiceAccessJsonContext : JsonSerializerContext;
