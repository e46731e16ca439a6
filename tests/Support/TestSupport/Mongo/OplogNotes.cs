using MongoDB.Bson;
using MongoDB.Driver;

namespace WapBackup.Testing.Mongo;

/// <summary>A no-op entry a test wrote to mark a point in the oplog: its unique marker and its ts.</summary>
public sealed record OplogNote(string Marker, BsonTimestamp Ts);

/// <summary>Marks the oplog with MongoDB's own <c>appendOplogNote</c>, so the same test runs on the test server and on a real replica set.</summary>
public static class OplogNotes
{
    /// <summary>
    /// Runs <c>{appendOplogNote: 1, data: {msg, marker}}</c> on admin; the server writes
    /// <c>{op: "n", ns: "", o: data}</c>. The marker is unique, so the entry is found among other
    /// tests' writes and the periodic no-ops of a real primary.
    /// </summary>
    public static async Task<OplogNote> AppendOplogNoteAsync(this IMongoClient client, string message, CancellationToken cancellationToken)
    {
        string marker = Guid.NewGuid().ToString("N");
        var data = new BsonDocument { { "msg", message }, { "marker", marker } };
        await client.GetDatabase("admin").RunCommandAsync<BsonDocument>(
            new BsonDocument { { "appendOplogNote", 1 }, { "data", data } }, cancellationToken: cancellationToken).ConfigureAwait(false);
        var oplog = client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs");
        var filter = new BsonDocument { { "op", "n" }, { "o.marker", marker } };
        // Newest first: the note is near the end of the oplog, so a real server finds it after a short scan.
        // Retried briefly: a real primary may make a committed oplog entry visible to readers a moment later.
        for (int attempt = 0; ; attempt++)
        {
            var entry = await oplog.Find(filter).Sort(new BsonDocument("$natural", -1)).Limit(1)
                .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
            if (entry is not null)
            {
                return new OplogNote(marker, entry["ts"].AsBsonTimestamp);
            }
            if (attempt == 100)
            {
                throw new InvalidOperationException($"appendOplogNote succeeded but after 5 s no oplog entry carries marker {marker}");
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }
}
