using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;
using MongoDB.Bson.Serialization.Attributes;
using MongoDB.Bson.Serialization.Serializers;

namespace WapBackup.Ddt.Capture;

/// <summary>
/// One BSON document as its bytes, read from and written to the driver without building a
/// per-field object graph (the capture path copies each document once, nothing more).
/// </summary>
[BsonSerializer(typeof(RawBsonSerializer))]
public sealed class RawBson
{
    public RawBson(byte[] bytes) => Bytes = bytes;

    public byte[] Bytes { get; }
}

/// <summary>Reads a document as one raw slice and writes it back unchanged.</summary>
public sealed class RawBsonSerializer : SerializerBase<RawBson>
{
    public override RawBson Deserialize(BsonDeserializationContext context, BsonDeserializationArgs args)
    {
        using var slice = context.Reader.ReadRawBsonDocument();
        var bytes = new byte[slice.Length];
        slice.GetBytes(0, bytes, 0, slice.Length);
        return new RawBson(bytes);
    }

    public override void Serialize(BsonSerializationContext context, BsonSerializationArgs args, RawBson value)
    {
        using var buffer = new ByteArrayBuffer(value.Bytes, value.Bytes.Length, isReadOnly: true);
        context.Writer.WriteRawBsonDocument(buffer);
    }
}
