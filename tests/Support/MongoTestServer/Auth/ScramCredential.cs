using System.Security.Cryptography;
using System.Text;
using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Auth;

/// <summary>
/// What the server keeps of a password for SCRAM-SHA-256 (RFC 5802: never the password itself), as
/// <c>credentials.SCRAM-SHA-256</c> of an <c>admin.system.users</c> document holds it.
/// </summary>
internal sealed record ScramCredential(byte[] Salt, int Iterations, byte[] StoredKey, byte[] ServerKey)
{
    /// <summary>mongod's scramSHA256IterationCount default: what createUser writes.</summary>
    public const int MongodIterations = 15000;

    /// <summary>mongod's salt length for SCRAM-SHA-256 (the digest size minus the 4-byte block index).</summary>
    private const int SaltBytes = 28;

    /// <remarks>The password's UTF-8 bytes, without SASLprep: createUser takes ASCII passwords only, for which they agree.</remarks>
    public static ScramCredential FromPassword(string password, int iterations)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(SaltBytes);
        byte[] salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return new ScramCredential(salt, iterations, SHA256.HashData(HMACSHA256.HashData(salted, "Client Key"u8)), HMACSHA256.HashData(salted, "Server Key"u8));
    }

    public static ScramCredential FromBson(BsonDocument stored) =>
        new(Convert.FromBase64String(stored["salt"].AsString), stored["iterationCount"].ToInt32(),
            Convert.FromBase64String(stored["storedKey"].AsString), Convert.FromBase64String(stored["serverKey"].AsString));

    public BsonDocument ToBson() => new()
    {
        { "iterationCount", Iterations },
        { "salt", Convert.ToBase64String(Salt) },
        { "storedKey", Convert.ToBase64String(StoredKey) },
        { "serverKey", Convert.ToBase64String(ServerKey) },
    };
}
