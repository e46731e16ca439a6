using CsCheck;
using MongoDB.Bson;
using WapBackup.Shared.Archive;

namespace WapBackup.Shared.Tests.Archive;

/// <summary>Generators shared by the archive property tests: BSON values of every type, documents, namespaces.</summary>
internal static class ArchiveTestData
{
    /// <summary>Text with escapes, control characters, non-ASCII and U+2028 (no lone surrogates: BSON strings are UTF-8).</summary>
    public static readonly Gen<string> AnyText = Text("ab \"\\/\n\t\u0001\u001f\u00e9\u4e2d\u2028<>&", 0, 12);

    public static readonly Gen<BsonValue> Scalar = Gen.OneOf<BsonValue>(
        Gen.Int.Select(v => (BsonValue)new BsonInt32(v)),
        Gen.Long.Select(v => (BsonValue)new BsonInt64(v)),
        Gen.Double.Select(v => (BsonValue)new BsonDouble(double.IsNaN(v) ? 0.5 : v)),
        AnyText.Select(v => (BsonValue)new BsonString(v)),
        Gen.Bool.Select(v => (BsonValue)BsonBoolean.Create(v)),
        Gen.Const((BsonValue)BsonNull.Value),
        Gen.Const((BsonValue)BsonMinKey.Value),
        Gen.Const((BsonValue)BsonMaxKey.Value),
        Gen.Const((BsonValue)BsonUndefined.Value),
        Gen.Byte.Array[0, 12].Select(b => (BsonValue)new BsonObjectId(new ObjectId(b.Length == 12 ? b : new byte[12]))),
        Gen.Long[-62135596800000, 253402300799999].Select(v => (BsonValue)new BsonDateTime(v)),
        Gen.Select(Gen.Byte.Array[0, 40], Gen.OneOf(BsonBinarySubType.Binary, BsonBinarySubType.UuidStandard, BsonBinarySubType.UserDefined),
            (b, t) => (BsonValue)new BsonBinaryData(t == BsonBinarySubType.UuidStandard ? new byte[16] : b, t)),
        Gen.Select(Gen.Int, Gen.Int, (t, i) => (BsonValue)new BsonTimestamp(t, i)),
        Gen.Select(Gen.Long, Gen.Int[0, 20], (m, e) => (BsonValue)new BsonDecimal128(Decimal128.Parse(m.ToString(System.Globalization.CultureInfo.InvariantCulture) + "E-" + e.ToString(System.Globalization.CultureInfo.InvariantCulture)))),
        Gen.Select(Text("az.*\\\"", 0, 8), Gen.OneOf("", "i", "im", "sx"), (p, o) => (BsonValue)new BsonRegularExpression(p, o)),
        AnyText.Select(v => (BsonValue)new BsonJavaScript(v)),
        AnyText.Select(v => (BsonValue)BsonSymbol.Create(v)));

    public static readonly Gen<BsonDocument> Document = Gen.Recursive<BsonDocument>((depth, self) =>
    {
        var value = depth >= 3
            ? Scalar
            : Gen.Frequency((6, Scalar), (1, self.Select(d => (BsonValue)d)), (1, self.Select(d => (BsonValue)new BsonArray(d.Values))));
        return Gen.Select(Gen.Int, Gen.Select(Text("abcXYZ09_$.\u00e9\n\"", 1, 10), value, (n, v) => (n, v)).List[0, 6], (id, fields) =>
            {
                var document = new BsonDocument("_id", id);
                foreach (var (name, v) in fields)
                {
                    document[name] = v;
                }
                return document;
            });
    });

    public static readonly Gen<ArchiveNamespace> Namespace = Gen.Select(Text("abcdefgxyz", 1, 8), Text("abcxyz019_.", 1, 12), (db, coll) => new ArchiveNamespace(db, coll));

    /// <summary>Strings of <paramref name="min"/>..<paramref name="max"/> characters drawn from <paramref name="chars"/>.</summary>
    public static Gen<string> Text(string chars, int min, int max) => Gen.Char[chars].Array[min, max].Select(a => new string(a));

    public static ArchivePrelude Prelude(IEnumerable<ArchiveNamespace> namespaces) => new(
        new ArchiveHeader(4, "7.0.14", "wap-backup-test"),
        namespaces.Select(n => new ArchiveCollection(n.Db, n.Collection, "", "collection")).ToList());
}
