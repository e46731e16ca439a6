using System.Buffers.Binary;
using MongoDB.Bson;
using WapBackup.Testing.Mongo.Bson;

namespace WapBackup.Testing.Mongo.Wire;

/// <summary>Wire-protocol opcodes and OP_MSG flag bits the server understands.</summary>
public static class OpCodes
{
    public const int Reply = 1;
    public const int Query = 2004;
    public const int Compressed = 2012;
    public const int Msg = 2013;

    public const uint ChecksumPresent = 1;
    public const uint MoreToCome = 2;
    public const uint ExhaustAllowed = 1 << 16;
}

/// <summary>
/// A parsed request: the command body (kind-0 section or OP_QUERY query) and the kind-1 document
/// sequences, kept as raw byte slices of the message buffer.
/// </summary>
public sealed class CommandRequest
{
    private readonly Dictionary<string, List<ReadOnlyMemory<byte>>>? _sequences;

    public CommandRequest(BsonDocument body, Dictionary<string, List<ReadOnlyMemory<byte>>>? sequences, bool moreToCome, bool legacy)
    {
        Body = body;
        _sequences = sequences;
        MoreToCome = moreToCome;
        IsLegacy = legacy;
        var first = body.ElementCount > 0 ? body.GetElement(0) : throw CommandException.FailedToParse("empty command document");
        Name = first.Name;
        Argument = first.Value;
        Database = body.TryGetValue("$db", out var db) ? db.AsString : "admin";
    }

    public BsonDocument Body { get; }

    public string Name { get; }

    public BsonValue Argument { get; }

    public string Database { get; }

    /// <summary>OP_MSG with moreToCome: the client wants no reply (w: 0 writes).</summary>
    public bool MoreToCome { get; }

    public bool IsLegacy { get; }

    /// <summary>Documents of a kind-1 sequence, or of the same-named array in the body.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> DocumentsOf(string name)
    {
        if (_sequences is not null && _sequences.TryGetValue(name, out var docs))
        {
            return docs;
        }
        if (Body.TryGetValue(name, out var array) && array is BsonArray items)
        {
            return items.Select(i => (ReadOnlyMemory<byte>)(i as BsonDocument ?? throw CommandException.TypeMismatch($"{name} entries must be documents")).ToBson()).ToList();
        }
        return [];
    }

    public static CommandRequest ParseMsg(byte[] message, int length)
    {
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(message.AsSpan(16));
        int end = (flags & OpCodes.ChecksumPresent) != 0 ? length - 4 : length;
        int pos = 20;
        BsonDocument? body = null;
        Dictionary<string, List<ReadOnlyMemory<byte>>>? sequences = null;
        while (pos < end)
        {
            byte kind = message[pos++];
            if (kind == 0)
            {
                int size = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(pos));
                var section = new ReadOnlyMemory<byte>(message, pos, size);
                if (SplitLeadingDocumentArray(section, out var rest, out string name, out var documents))
                {
                    body = rest;
                    (sequences ??= new(StringComparer.Ordinal))[name] = documents;
                }
                else
                {
                    body = RawBson.Decode(section);
                }
                pos += size;
            }
            else if (kind == 1)
            {
                int size = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(pos));
                int sectionEnd = pos + size;
                int p = pos + 4;
                int nameEnd = Array.IndexOf(message, (byte)0, p);
                string identifier = System.Text.Encoding.UTF8.GetString(message, p, nameEnd - p);
                p = nameEnd + 1;
                var docs = new List<ReadOnlyMemory<byte>>();
                while (p < sectionEnd)
                {
                    int docSize = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(p));
                    docs.Add(new ReadOnlyMemory<byte>(message, p, docSize));
                    p += docSize;
                }
                (sequences ??= new(StringComparer.Ordinal))[identifier] = docs;
                pos = sectionEnd;
            }
            else
            {
                throw CommandException.FailedToParse($"unknown OP_MSG section kind {kind}");
            }
        }
        return new CommandRequest(body ?? throw CommandException.FailedToParse("OP_MSG without a body section"), sequences,
            (flags & OpCodes.MoreToCome) != 0, legacy: false);
    }

    /// <summary>Commands whose leading array of operations stays raw, as a kind-1 sequence would (decision 0216).</summary>
    private static readonly HashSet<string> RawArrayCommands = ["applyOps"];

    /// <summary>
    /// For a command in <see cref="RawArrayCommands"/> whose first element is an array of documents: the body decoded
    /// with that array empty, and the array's documents as raw slices of the message (what DocumentsOf returns). False
    /// (the body is decoded whole) for any other command, or when an element is not a document (the handler reports it).
    /// </summary>
    private static bool SplitLeadingDocumentArray(ReadOnlyMemory<byte> section, out BsonDocument rest, out string name, out List<ReadOnlyMemory<byte>> documents)
    {
        rest = null!;
        name = "";
        documents = [];
        var span = section.Span;
        if (span.Length < 6 || span[4] != (byte)BsonType.Array)
        {
            return false;
        }
        int nameEnd = span[5..].IndexOf((byte)0);
        if (nameEnd < 0)
        {
            return false;
        }
        name = System.Text.Encoding.UTF8.GetString(span.Slice(5, nameEnd));
        if (!RawArrayCommands.Contains(name))
        {
            return false;
        }
        int arrayStart = 5 + nameEnd + 1;
        int arrayLength = BinaryPrimitives.ReadInt32LittleEndian(span[arrayStart..]);
        int arrayEnd = arrayStart + arrayLength - 1; // the array's terminating zero
        int p = arrayStart + 4;
        while (p < arrayEnd)
        {
            if (span[p] != (byte)BsonType.Document)
            {
                documents = [];
                return false;
            }
            p += span[(p + 1)..].IndexOf((byte)0) + 2; // type, index name, its zero
            int size = BinaryPrimitives.ReadInt32LittleEndian(span[p..]);
            documents.Add(section.Slice(p, size));
            p += size;
        }
        // {name: [], ...the other fields}: 4 + the leading element (type, name, an empty array) + the rest.
        int tail = span.Length - (arrayStart + arrayLength);
        var stripped = new byte[arrayStart + 5 + tail];
        span[..arrayStart].CopyTo(stripped);
        BinaryPrimitives.WriteInt32LittleEndian(stripped.AsSpan(arrayStart), 5);
        span[(arrayStart + arrayLength)..].CopyTo(stripped.AsSpan(arrayStart + 5));
        BinaryPrimitives.WriteInt32LittleEndian(stripped, stripped.Length);
        rest = RawBson.Decode(stripped);
        return true;
    }

    /// <summary>Legacy OP_QUERY, only as used for the handshake: a command on &lt;db&gt;.$cmd.</summary>
    public static CommandRequest ParseQuery(byte[] message)
    {
        int pos = 20;
        int nameEnd = Array.IndexOf(message, (byte)0, pos);
        string collection = System.Text.Encoding.UTF8.GetString(message, pos, nameEnd - pos);
        pos = nameEnd + 1 + 8; // numberToSkip, numberToReturn
        int size = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(pos));
        var query = RawBson.Decode(new ReadOnlyMemory<byte>(message, pos, size));
        if (query.TryGetValue("$query", out var wrapped) && wrapped is BsonDocument inner)
        {
            query = inner;
        }
        if (!collection.EndsWith(".$cmd", StringComparison.Ordinal))
        {
            throw CommandException.NotImplemented($"legacy OP_QUERY on {collection} (only commands on <db>.$cmd)");
        }
        string db = collection[..^5];
        if (!query.Contains("$db"))
        {
            query["$db"] = db;
        }
        return new CommandRequest(query, null, moreToCome: false, legacy: true);
    }
}

/// <summary>Frames replies: OP_MSG (flags 0, one kind-0 section) or OP_REPLY for legacy requests.</summary>
public static class ReplyFramer
{
    public static byte[] Frame(int requestId, int responseTo, ReadOnlySpan<byte> body, bool legacy)
    {
        int headerAndPrefix = legacy ? 16 + 20 : 16 + 5;
        var message = new byte[headerAndPrefix + body.Length];
        var span = message.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(span, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], requestId);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], responseTo);
        if (legacy)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[12..], OpCodes.Reply);
            // responseFlags 0, cursorId 0, startingFrom 0, numberReturned 1
            BinaryPrimitives.WriteInt32LittleEndian(span[32..], 1);
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[12..], OpCodes.Msg);
            // flagBits 0, section kind 0
        }
        body.CopyTo(span[headerAndPrefix..]);
        return message;
    }
}
