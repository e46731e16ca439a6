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
        // Newest first: the note is near the end of the oplog, so a real server finds it after a short scan.
        var entry = await client.GetDatabase("local").GetCollection<BsonDocument>("oplog.rs")
            .Find(new BsonDocument { { "op", "n" }, { "o.marker", marker } })
            .Sort(new BsonDocument("$natural", -1)).Limit(1)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"appendOplogNote succeeded but no oplog entry carries marker {marker}");
        return new OplogNote(marker, entry["ts"].AsBsonTimestamp);
    }
}
