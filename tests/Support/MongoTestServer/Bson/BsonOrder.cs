using MongoDB.Bson;

namespace WapBackup.Testing.Mongo.Bson;

/// <summary>
/// MongoDB's total order over BSON values (canonical type brackets first, then value), used for
/// sort, range filters, equality and _id keys. Numbers of different BSON types compare by value.
/// </summary>
public sealed class BsonOrder : IComparer<BsonValue>, IEqualityComparer<BsonValue>
{
    public static BsonOrder Instance { get; } = new();

    private BsonOrder()
    {
    }

    /// <summary>The canonical type bracket: values of different brackets never compare equal.</summary>
    public static int Bracket(BsonValue value) => value.BsonType switch
    {
        BsonType.MinKey => 1,
        BsonType.Undefined or BsonType.Null => 5,
        BsonType.Int32 or BsonType.Int64 or BsonType.Double or BsonType.Decimal128 => 10,
        BsonType.String or BsonType.Symbol => 15,
        BsonType.Document => 20,
        BsonType.Array => 25,
        BsonType.Binary => 30,
        BsonType.ObjectId => 35,
        BsonType.Boolean => 40,
        BsonType.DateTime => 45,
        BsonType.Timestamp => 47,
        BsonType.RegularExpression => 50,
        BsonType.JavaScript => 60,
        BsonType.JavaScriptWithScope => 65,
        BsonType.MaxKey => 127,
        _ => 100,
    };

    public int Compare(BsonValue? x, BsonValue? y)
    {
        if (x is null || y is null)
        {
            return (x is null ? 0 : 1) - (y is null ? 0 : 1);
        }
        int bx = Bracket(x), by = Bracket(y);
        if (bx != by)
        {
            return bx.CompareTo(by);
        }
        switch (bx)
        {
            case 1 or 5 or 127:
                return 0;
            case 10:
                return CompareNumbers(x, y);
            case 15:
                return CompareUtf8(x.Text(), y.Text());
            case 20:
                return CompareDocuments(x.AsBsonDocument, y.AsBsonDocument);
            case 25:
                return CompareArrays(x.AsBsonArray, y.AsBsonArray);
            case 30:
                return CompareBinary(x.AsBsonBinaryData, y.AsBsonBinaryData);
            case 35:
                return x.AsObjectId.CompareTo(y.AsObjectId);
            case 40:
                return x.AsBoolean.CompareTo(y.AsBoolean);
            case 45:
                return x.AsBsonDateTime.MillisecondsSinceEpoch.CompareTo(y.AsBsonDateTime.MillisecondsSinceEpoch);
            case 47:
                return ((ulong)x.AsBsonTimestamp.Value).CompareTo((ulong)y.AsBsonTimestamp.Value);
            case 50:
                {
                    int c = string.CompareOrdinal(x.AsBsonRegularExpression.Pattern, y.AsBsonRegularExpression.Pattern);
                    return c != 0 ? c : string.CompareOrdinal(x.AsBsonRegularExpression.Options, y.AsBsonRegularExpression.Options);
                }
            default:
                return string.CompareOrdinal(x.ToString(), y.ToString());
        }
    }

    public bool Equals(BsonValue? x, BsonValue? y) => Compare(x, y) == 0;

    public int GetHashCode(BsonValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        switch (Bracket(value))
        {
            case 10:
                double d = ToDouble(value);
                return double.IsNaN(d) ? 0 : d.GetHashCode();
            case 15:
                return value.Text().GetHashCode(StringComparison.Ordinal);
            case 20:
                {
                    var hash = new HashCode();
                    foreach (var e in value.AsBsonDocument)
                    {
                        hash.Add(e.Name);
                        hash.Add(GetHashCode(e.Value));
                    }
                    return hash.ToHashCode();
                }
            case 25:
                {
                    var hash = new HashCode();
                    foreach (var e in value.AsBsonArray)
                    {
                        hash.Add(GetHashCode(e));
                    }
                    return hash.ToHashCode();
                }
            case 1 or 5 or 127:
                return Bracket(value);
            default:
                return value.GetHashCode();
        }
    }

    private static int CompareNumbers(BsonValue x, BsonValue y)
    {
        if (x.BsonType is BsonType.Int32 or BsonType.Int64 && y.BsonType is BsonType.Int32 or BsonType.Int64)
        {
            return x.ToInt64().CompareTo(y.ToInt64());
        }
        if (x.BsonType == BsonType.Decimal128 || y.BsonType == BsonType.Decimal128)
        {
            if (TryDecimal(x, out decimal dx) && TryDecimal(y, out decimal dy))
            {
                return dx.CompareTo(dy);
            }
        }
        double a = ToDouble(x), b = ToDouble(y);
        // MongoDB sorts NaN below every other number.
        if (double.IsNaN(a) || double.IsNaN(b))
        {
            return double.IsNaN(a) ? (double.IsNaN(b) ? 0 : -1) : 1;
        }
        return a.CompareTo(b);
    }

    private static bool TryDecimal(BsonValue v, out decimal value)
    {
        try
        {
            value = v.BsonType switch
            {
                BsonType.Decimal128 => Decimal128.ToDecimal(v.AsDecimal128),
                BsonType.Double => (decimal)v.AsDouble,
                _ => v.ToInt64(),
            };
            return true;
        }
        catch (OverflowException)
        {
            value = 0;
            return false;
        }
    }

    public static double ToDouble(BsonValue v) => v.BsonType switch
    {
        BsonType.Int32 => v.AsInt32,
        BsonType.Int64 => v.AsInt64,
        BsonType.Double => v.AsDouble,
        BsonType.Decimal128 => Decimal128.ToDouble(v.AsDecimal128),
        _ => double.NaN,
    };

    /// <summary>
    /// MongoDB compares strings and field names as UTF-8 bytes, which is code point order. UTF-16
    /// ordinal order differs only where a surrogate (a code point above U+FFFF) meets U+E000-U+FFFF.
    /// </summary>
    public static int CompareUtf8(string x, string y)
    {
        int n = Math.Min(x.Length, y.Length);
        for (int i = 0; i < n; i++)
        {
            char a = x[i], b = y[i];
            if (a == b)
            {
                continue;
            }
            bool surrogateA = char.IsSurrogate(a), surrogateB = char.IsSurrogate(b);
            if (surrogateA == surrogateB)
            {
                return a.CompareTo(b);
            }
            return surrogateA ? 1 : -1;
        }
        return x.Length.CompareTo(y.Length);
    }

    private int CompareDocuments(BsonDocument x, BsonDocument y)
    {
        int n = Math.Min(x.ElementCount, y.ElementCount);
        for (int i = 0; i < n; i++)
        {
            var ex = x.GetElement(i);
            var ey = y.GetElement(i);
            int c = Bracket(ex.Value).CompareTo(Bracket(ey.Value));
            if (c != 0)
            {
                return c;
            }
            c = CompareUtf8(ex.Name, ey.Name);
            if (c != 0)
            {
                return c;
            }
            c = Compare(ex.Value, ey.Value);
            if (c != 0)
            {
                return c;
            }
        }
        return x.ElementCount.CompareTo(y.ElementCount);
    }

    private int CompareArrays(BsonArray x, BsonArray y)
    {
        int n = Math.Min(x.Count, y.Count);
        for (int i = 0; i < n; i++)
        {
            int c = Bracket(x[i]).CompareTo(Bracket(y[i]));
            if (c == 0)
            {
                c = Compare(x[i], y[i]);
            }
            if (c != 0)
            {
                return c;
            }
        }
        return x.Count.CompareTo(y.Count);
    }

    private static int CompareBinary(BsonBinaryData x, BsonBinaryData y)
    {
        int c = x.Bytes.Length.CompareTo(y.Bytes.Length);
        if (c != 0)
        {
            return c;
        }
        c = ((byte)x.SubType).CompareTo((byte)y.SubType);
        return c != 0 ? c : x.Bytes.AsSpan().SequenceCompareTo(y.Bytes);
    }
}

internal static class BsonValueText
{
    public static string Text(this BsonValue v) => v.BsonType == BsonType.Symbol ? v.AsBsonSymbol.Name : v.AsString;
}
