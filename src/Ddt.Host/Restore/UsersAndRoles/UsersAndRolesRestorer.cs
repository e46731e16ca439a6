using MongoDB.Bson;
using WapBackup.Ddt.Restore.Load;
using MongoDB.Bson.Serialization;
using MongoDB.Driver;

namespace WapBackup.Ddt.Restore.UsersAndRoles;

/// <summary>
/// Restores a snapshot's users and roles as mongorestore <c>--restoreDbUsersAndRoles</c> does for a whole restore:
/// into temporary <c>admin</c> collections, then <c>_mergeAuthzCollections</c> (<c>db: ""</c>), then the temporary
/// collections are dropped. With drop the target's users and roles become the snapshot's; without, a user or role
/// that already exists is refused by <see cref="CheckAsync"/> before anything is written (decision 1021).
/// </summary>
public sealed class UsersAndRolesRestorer(IMongoClient target)
{
    public const string TempUsers = "wapbackup_restore_users";
    public const string TempRoles = "wapbackup_restore_roles";

    private IMongoDatabase Admin => target.GetDatabase("admin");

    /// <summary>Refusals that need the target, before the restore writes anything.</summary>
    public async Task CheckAsync(SnapshotUsersAndRoles snapshot, bool drop, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var targetVersion = await Admin.GetCollection<BsonDocument>("system.version")
            .Find(new BsonDocument("_id", "authSchema")).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (snapshot.AuthSchemaVersion is { } version && targetVersion?.GetValue("currentVersion", BsonNull.Value) is { IsNumeric: true } current && current.ToInt32() != version)
        {
            throw new RestoreRefusedException("users-and-roles-auth-version",
                $"the snapshot's users and roles are auth schema version {version}, the target's is {current.ToInt32()}; they cannot be merged");
        }
        if (drop)
        {
            return;
        }
        var existing = new List<string>();
        foreach (var (collection, documents) in new[] { ("system.users", snapshot.Users), ("system.roles", snapshot.Roles) })
        {
            var ids = new BsonArray(documents.Select(d => BsonSerializer.Deserialize<BsonDocument>(d)["_id"]));
            if (ids.Count == 0)
            {
                continue;
            }
            var found = await Admin.GetCollection<BsonDocument>(collection).Find(new BsonDocument("_id", new BsonDocument("$in", ids)))
                .Project(new BsonDocument("_id", 1)).ToListAsync(cancellationToken).ConfigureAwait(false);
            existing.AddRange(found.Select(d => $"{(collection == "system.users" ? "user" : "role")} {d["_id"]}"));
        }
        if (existing.Count > 0)
        {
            throw new RestoreRefusedException("users-and-roles-exist",
                $"the target already has {string.Join(", ", existing)}; restore with --drop to replace the target's users and roles with the snapshot's; nothing was written");
        }
    }

    /// <summary>Writes them; a leftover temporary collection of a killed restore is dropped first.</summary>
    public async Task RestoreAsync(SnapshotUsersAndRoles snapshot, bool drop, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        await DropTempAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Admin.CreateCollectionAsync(TempUsers, cancellationToken: cancellationToken).ConfigureAwait(false);
            await Admin.CreateCollectionAsync(TempRoles, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var (name, documents) in new[] { (TempUsers, snapshot.Users), (TempRoles, snapshot.Roles) })
            {
                if (documents.Count > 0)
                {
                    await Admin.GetCollection<RawBsonDocument>(name).InsertManyAsync(documents.Select(d => new RawBsonDocument(d)), cancellationToken: cancellationToken).ConfigureAwait(false);
                }
            }
            await Admin.RunCommandAsync<BsonDocument>(new BsonDocument
            {
                { "_mergeAuthzCollections", 1 },
                { "tempUsersCollection", "admin." + TempUsers },
                { "tempRolesCollection", "admin." + TempRoles },
                { "drop", drop },
                { "db", "" },
                { "writeConcern", new BsonDocument("w", "majority") },
            }, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            try
            {
                await DropTempAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception error) when (error is MongoException or TimeoutException)
            {
                // The target is failing anyway: the next restore drops the leftovers before it writes.
            }
            throw;
        }
        await DropTempAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task DropTempAsync(CancellationToken cancellationToken)
    {
        await Admin.DropCollectionAsync(TempUsers, cancellationToken).ConfigureAwait(false);
        await Admin.DropCollectionAsync(TempRoles, cancellationToken).ConfigureAwait(false);
    }
}
