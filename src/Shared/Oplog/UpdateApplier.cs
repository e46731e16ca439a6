using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// Computes an update entry's post-image from the document's pre-image, whatever the format:
/// replacement, <c>$v: 1</c> operators, or a <c>$v: 2</c> diff. Failures name the entry's ts and ns.
/// </summary>
public static class UpdateApplier
{
    public static byte[] Apply(RawDocument pre, in OplogEntry update)
    {
        if (update.Operation != OplogOperation.Update || update.Object is not { } o)
        {
            throw new UpdateApplicationException(update.Timestamp, update.Namespace, new DiffFormatException("not an update entry with an o document"));
        }
        try
        {
            return Apply(pre, o);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new UpdateApplicationException(update.Timestamp, update.Namespace, e);
        }
    }

    /// <summary>Applies an update's <c>o</c> (without entry context; errors carry no ts).</summary>
    public static byte[] Apply(RawDocument pre, RawDocument o)
    {
        switch (OplogEntry.ClassifyUpdate(o))
        {
            case UpdateFormat.V2:
                var diff = o.Find("diff"u8);
                if (diff.Type != BsonType.Document)
                {
                    throw new DiffFormatException($"$v:2 update needs a diff document, got {(diff.Exists ? diff.Type.ToString() : "none")}");
                }
                return DiffApplier.Apply(pre, diff.AsDocument);
            case UpdateFormat.V1:
                return V1UpdateApplier.Apply(pre.ToBsonDocument(), o.ToBsonDocument()).ToBson();
            default:
                return Replace(pre, o);
        }
    }

    // A replacement keeps the document's _id (first) when the new body omits it, as the server does.
    private static byte[] Replace(RawDocument pre, RawDocument o)
    {
        if (o.Find("_id"u8).Exists)
        {
            return o.Bytes.ToArray();
        }
        var id = pre.Find("_id"u8);
        if (!id.Exists)
        {
            return o.Bytes.ToArray();
        }
        var writer = new RawBsonWriter(o.Length + id.ElementBytes.Length);
        int mark = writer.BeginDocument();
        writer.WriteElement(id);
        foreach (var element in o)
        {
            writer.WriteElement(element);
        }
        writer.EndDocument(mark);
        return writer.ToArray();
    }
}
