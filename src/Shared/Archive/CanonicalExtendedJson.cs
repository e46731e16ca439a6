using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Archive;

/// <summary>
/// Raw BSON to compact canonical Extended JSON v2, as the Go driver writes it for mongodump's
/// metadata (MarshalExtJSON canonical, no HTML escaping): no whitespace, field order kept, Go's
/// string escapes and Go's double formatting, so our metadata text matches mongodump's byte for byte.
/// </summary>
public static class CanonicalExtendedJson
{
    public static string Write(RawDocument document)
    {
        var output = new StringBuilder(document.Length * 2);
        WriteDocument(output, document, isArray: false);
        return output.ToString();
    }

    internal static void WriteDocument(StringBuilder output, RawDocument document, bool isArray)
    {
        output.Append(isArray ? '[' : '{');
        bool first = true;
        foreach (var element in document)
        {
            if (!first)
            {
                output.Append(',');
            }
            first = false;
            if (!isArray)
            {
                WriteString(output, element.NameUtf8);
                output.Append(':');
            }
            WriteValue(output, element);
        }
        output.Append(isArray ? ']' : '}');
    }

    internal static void WriteString(StringBuilder output, string value) => WriteString(output, Encoding.UTF8.GetBytes(value));

    private static void WriteValue(StringBuilder output, RawElement element)
    {
        var value = element.ValueSpan;
        switch (element.Type)
        {
            case BsonType.Double:
                output.Append("{\"$numberDouble\":\"").Append(FormatDouble(BinaryPrimitives.ReadDoubleLittleEndian(value))).Append("\"}");
                break;
            case BsonType.String:
                WriteString(output, element.StringUtf8);
                break;
            case BsonType.Document:
                WriteDocument(output, element.AsDocument, isArray: false);
                break;
            case BsonType.Array:
                WriteDocument(output, element.AsDocument, isArray: true);
                break;
            case BsonType.Binary:
            {
                int length = BinaryPrimitives.ReadInt32LittleEndian(value);
                byte subType = value[4];
                var data = value.Slice(5, length);
                if (subType == 0x02 && data.Length >= 4)
                {
                    data = data[4..]; // the old binary subtype repeats the length inside the data
                }
                output.Append("{\"$binary\":{\"base64\":\"").Append(Convert.ToBase64String(data))
                    .Append("\",\"subType\":\"").Append(subType.ToString("x2", CultureInfo.InvariantCulture)).Append("\"}}");
                break;
            }
            case BsonType.Undefined:
                output.Append("{\"$undefined\":true}");
                break;
            case BsonType.ObjectId:
                output.Append("{\"$oid\":\"").Append(Convert.ToHexStringLower(value)).Append("\"}");
                break;
            case BsonType.Boolean:
                output.Append(value[0] != 0 ? "true" : "false");
                break;
            case BsonType.DateTime:
                output.Append("{\"$date\":{\"$numberLong\":\"").Append(Invariant(BinaryPrimitives.ReadInt64LittleEndian(value))).Append("\"}}");
                break;
            case BsonType.Null:
                output.Append("null");
                break;
            case BsonType.RegularExpression:
            {
                int patternEnd = value.IndexOf((byte)0);
                var options = value[(patternEnd + 1)..^1].ToArray();
                Array.Sort(options); // the Go driver sorts regex options
                output.Append("{\"$regularExpression\":{\"pattern\":");
                WriteString(output, value[..patternEnd]);
                output.Append(",\"options\":");
                WriteString(output, options);
                output.Append("}}");
                break;
            }
            case (BsonType)0x0C: // DBPointer
            {
                int length = BinaryPrimitives.ReadInt32LittleEndian(value);
                output.Append("{\"$dbPointer\":{\"$ref\":");
                WriteString(output, value.Slice(4, length - 1));
                output.Append(",\"$id\":{\"$oid\":\"").Append(Convert.ToHexStringLower(value.Slice(4 + length, 12))).Append("\"}}}");
                break;
            }
            case BsonType.JavaScript:
                output.Append("{\"$code\":");
                WriteString(output, value[4..^1]);
                output.Append('}');
                break;
            case BsonType.Symbol:
                output.Append("{\"$symbol\":");
                WriteString(output, value[4..^1]);
                output.Append('}');
                break;
            case BsonType.JavaScriptWithScope:
            {
                int codeLength = BinaryPrimitives.ReadInt32LittleEndian(value[4..]);
                output.Append("{\"$code\":");
                WriteString(output, value.Slice(8, codeLength - 1));
                output.Append(",\"$scope\":");
                var scope = element.ValueSpan[(8 + codeLength)..].ToArray();
                WriteDocument(output, new RawDocument(scope), isArray: false);
                output.Append('}');
                break;
            }
            case BsonType.Int32:
                output.Append("{\"$numberInt\":\"").Append(Invariant(BinaryPrimitives.ReadInt32LittleEndian(value))).Append("\"}");
                break;
            case BsonType.Timestamp:
                output.Append("{\"$timestamp\":{\"t\":").Append(Invariant(BinaryPrimitives.ReadUInt32LittleEndian(value[4..])))
                    .Append(",\"i\":").Append(Invariant(BinaryPrimitives.ReadUInt32LittleEndian(value))).Append("}}");
                break;
            case BsonType.Int64:
                output.Append("{\"$numberLong\":\"").Append(Invariant(BinaryPrimitives.ReadInt64LittleEndian(value))).Append("\"}");
                break;
            case BsonType.Decimal128:
            {
                var decimalValue = Decimal128.FromIEEEBits(BinaryPrimitives.ReadUInt64LittleEndian(value[8..]), BinaryPrimitives.ReadUInt64LittleEndian(value));
                output.Append("{\"$numberDecimal\":\"").Append(decimalValue.ToString()).Append("\"}");
                break;
            }
            case BsonType.MinKey:
                output.Append("{\"$minKey\":1}");
                break;
            case BsonType.MaxKey:
                output.Append("{\"$maxKey\":1}");
                break;
            default:
                throw new FormatException($"field '{element.Name}' has BSON type 0x{(int)element.Type:x2}, which Extended JSON cannot express");
        }
    }

    /// <summary>Go's bsonrw escapes: quote, backslash, \n \r \t, other control bytes as \u00xx, U+2028/U+2029; no HTML escaping.</summary>
    private static void WriteString(StringBuilder output, ReadOnlySpan<byte> utf8)
    {
        const string Hex = "0123456789abcdef";
        output.Append('"');
        string text = Encoding.UTF8.GetString(utf8);
        foreach (char c in text)
        {
            switch (c)
            {
                case '"':
                    output.Append("\\\"");
                    break;
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '\r':
                    output.Append("\\r");
                    break;
                case '\t':
                    output.Append("\\t");
                    break;
                case '\u2028' or '\u2029':
                    output.Append("\\u202").Append(Hex[c & 0xF]);
                    break;
                case < ' ':
                    output.Append("\\u00").Append(Hex[c >> 4]).Append(Hex[c & 0xF]);
                    break;
                default:
                    output.Append(c);
                    break;
            }
        }
        output.Append('"');
    }

    /// <summary>
    /// Go's formatDouble: strconv.FormatFloat(f, 'G', -1, 64), i.e. the shortest round-trip digits,
    /// exponent form (at least two exponent digits) when the decimal exponent is below -4 or at least 6;
    /// ".0" appended when the result has neither '.' nor 'E'; Infinity, -Infinity, NaN by name.
    /// </summary>
    internal static string FormatDouble(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "Infinity";
        }
        if (double.IsNegativeInfinity(value))
        {
            return "-Infinity";
        }
        if (double.IsNaN(value))
        {
            return "NaN";
        }
        // .NET's "R" gives the same shortest round-trip digits; only the layout differs from Go's.
        string r = value.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r.StartsWith('-');
        if (negative)
        {
            r = r[1..];
        }
        int exponent = 0;
        int e = r.IndexOf('E', StringComparison.Ordinal);
        if (e >= 0)
        {
            exponent = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        int dot = r.IndexOf('.', StringComparison.Ordinal);
        string digits = dot >= 0 ? r.Remove(dot, 1) : r;
        int pointPosition = (dot >= 0 ? dot : r.Length) + exponent; // value = 0.<digits> x 10^pointPosition
        int leadingZeros = 0;
        while (leadingZeros < digits.Length - 1 && digits[leadingZeros] == '0')
        {
            leadingZeros++;
        }
        digits = digits[leadingZeros..];
        pointPosition -= leadingZeros;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
        {
            digits = "0";
            pointPosition = 1;
        }
        var text = new StringBuilder();
        if (negative)
        {
            text.Append('-');
        }
        int decimalExponent = pointPosition - 1;
        if (decimalExponent < -4 || decimalExponent >= 6)
        {
            text.Append(digits[0]);
            if (digits.Length > 1)
            {
                text.Append('.').Append(digits, 1, digits.Length - 1);
            }
            text.Append('E').Append(decimalExponent < 0 ? '-' : '+');
            int magnitude = Math.Abs(decimalExponent);
            text.Append(magnitude < 10 ? "0" : "").Append(Invariant(magnitude));
            return text.ToString();
        }
        if (pointPosition <= 0)
        {
            text.Append("0.").Append('0', -pointPosition).Append(digits);
        }
        else if (pointPosition >= digits.Length)
        {
            text.Append(digits).Append('0', pointPosition - digits.Length).Append(".0");
        }
        else
        {
            text.Append(digits, 0, pointPosition).Append('.').Append(digits, pointPosition, digits.Length - pointPosition);
        }
        return text.ToString();
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
