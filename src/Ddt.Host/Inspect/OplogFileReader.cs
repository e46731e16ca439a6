using System.Buffers.Binary;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;
using MongoDB.Bson.Serialization.Serializers;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Inspect;

/// <summary>
/// Reads oplog entries from a file: a BSON stream (mongodump's oplog.bson), or Extended JSON
/// (canonical or relaxed) holding one document, an array, or one document per line. A JSON
/// object of mongo-tools transaction scenarios (<c>{name: {ops: [...]}}</c>) yields its ops.
/// Problems are reported through <paramref name="onError"/> and never thrown.
/// </summary>
public static class OplogFileReader
{
    public static async Task ReadAsync(string path, Action<OplogEntry> onEntry, Action<string> onError, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = File.OpenRead(path);
            if (LooksLikeBson(stream, path))
            {
                await ReadBsonAsync(path, stream, onEntry, onError, cancellationToken).ConfigureAwait(false);
                return;
            }
            stream.Position = 0;
            using var text = new StreamReader(stream);
            ReadJson(path, await text.ReadToEndAsync(cancellationToken).ConfigureAwait(false), onEntry, onError);
        }
        catch (IOException e)
        {
            onError($"{path}: cannot read: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            onError($"{path}: cannot read: {e.Message}");
        }
    }

    // .bson / .json decide; otherwise a plausible first length header with a 0 at its end means BSON.
    private static bool LooksLikeBson(FileStream stream, string path)
    {
        if (path.EndsWith(".bson", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        Span<byte> header = stackalloc byte[4];
        if (stream.Read(header) < 4)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 5 || length > stream.Length)
        {
            return false;
        }
        stream.Position = length - 1;
        bool bson = stream.ReadByte() == 0;
        stream.Position = 0;
        return bson;
    }

    private static async Task ReadBsonAsync(string path, Stream stream, Action<OplogEntry> onEntry, Action<string> onError, CancellationToken cancellationToken)
    {
        var reader = new BsonStreamReader(stream);
        int index = 0;
        try
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) is { } document)
            {
                index++;
                Deliver(path, index, document, onEntry, onError);
            }
        }
        catch (BsonFormatException e)
        {
            onError($"{path}: {e.Message}");
        }
    }

    private static void Deliver(string path, int index, ReadOnlyMemory<byte> bytes, Action<OplogEntry> onEntry, Action<string> onError)
    {
        try
        {
            var entry = new OplogEntry(bytes);
            if (entry.OperationName is null)
            {
                onError($"{path}: document {index} is not an oplog entry (no string op field)");
                return;
            }
            onEntry(entry);
        }
        catch (BsonFormatException e)
        {
            onError($"{path}: document {index}: {e.Message}");
        }
    }

    private static void ReadJson(string path, string text, Action<OplogEntry> onEntry, Action<string> onError)
    {
        var documents = new List<BsonDocument>();
        try
        {
            string trimmed = text.TrimStart();
            if (trimmed.StartsWith('['))
            {
                documents.AddRange(BsonSerializer.Deserialize<BsonArray>(trimmed).Select((v, i) =>
                    v as BsonDocument ?? throw new FormatException($"array element {i + 1} is {v.BsonType}, not a document")));
            }
            else
            {
                using var reader = new JsonReader(text);
                while (!reader.IsAtEndOfFile())
                {
                    documents.Add(BsonDocumentSerializer.Instance.Deserialize(BsonDeserializationContext.CreateRoot(reader)));
                }
            }
        }
        catch (Exception e) when (e is FormatException or BsonException)
        {
            onError($"{path}: invalid Extended JSON after {documents.Count} document(s): {e.Message}");
        }
        int index = 0;
        foreach (var document in documents)
        {
            index++;
            if (document.Contains("op"))
            {
                Deliver(path, index, document.ToBson(), onEntry, onError);
            }
            else if (document.ElementCount > 0 && document.Values.All(v => v is BsonDocument s && s.GetValue("ops", BsonNull.Value) is BsonArray))
            {
                foreach (var scenario in document.Values)
                {
                    foreach (var op in scenario["ops"].AsBsonArray)
                    {
                        Deliver(path, index, op.AsBsonDocument.ToBson(), onEntry, onError);
                    }
                }
            }
            else
            {
                onError($"{path}: document {index} is not an oplog entry (no op field)");
            }
        }
    }
}
