using WapBackup.Ddt.Diff;
using MongoDB.Bson;

namespace WapBackup.Ddt.Host.Tests.Cli;

public sealed class DiffApplyCommandTests
{
    [Fact]
    public async Task Each_line_gets_a_post_or_an_error_line_in_order()
    {
        string input = string.Join('\n',
            """{"pre": {"_id": {"$numberInt": "1"}, "a": {"$numberLong": "2"}, "b": [{"$numberInt": "1"}]}, "diff": {"u": {"a": {"$numberInt": "3"}}, "i": {"z": true}, "sb": {"a": true, "u2": "x"}}}""",
            "not json",
            """{"pre": {"_id": 1}, "diff": {"q": {}}}""",
            """{"pre": {"_id": 1}}""",
            """{"pre": {"_id": {"$numberInt": "1"}, "k": "v"}, "diff": {"$v": {"$numberInt": "2"}, "diff": {"d": {"k": false}}}}""");
        var (code, output, _) = await CliRunner.RunAsync(["diff", "apply"], input + "\n");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);

        var post = BsonDocument.Parse(lines[0])["post"].AsBsonDocument;
        Assert.Equal(["_id", "a", "b", "z"], post.Names);
        Assert.Equal(BsonType.Int32, post["a"].BsonType);
        Assert.Equal(new BsonArray { 1, BsonNull.Value, "x" }, post["b"].AsBsonArray);
        Assert.Contains("\"$numberInt\"", lines[0], StringComparison.Ordinal); // canonical Extended JSON

        Assert.StartsWith("{\"error\":", lines[1], StringComparison.Ordinal);
        Assert.Contains("line 2", lines[1], StringComparison.Ordinal);
        Assert.Contains("Unexpected section: q", lines[2], StringComparison.Ordinal);
        Assert.Contains("field 'diff' must be a document", lines[3], StringComparison.Ordinal);
        Assert.Equal(new BsonDocument("_id", 1), BsonDocument.Parse(lines[4])["post"].AsBsonDocument);
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task The_real_ddt_program_applies_a_diff()
    {
        var (code, output) = await CliRunner.RunProcessAsync(["diff", "apply"],
            """{"pre": {"_id": {"$numberInt": "7"}, "arr": [{"$numberInt": "1"}, {"$numberInt": "2"}, {"$numberInt": "3"}]}, "diff": {"sarr": {"a": true, "l": {"$numberInt": "1"}}}}""" + "\n");
        Assert.Equal(0, code);
        Assert.Equal(new BsonDocument { { "_id", 7 }, { "arr", new BsonArray { 1 } } }, BsonDocument.Parse(output.Trim())["post"].AsBsonDocument);
    }

    [Fact]
    public async Task Binary_diff_section_is_applied()
    {
        var (code, output, _) = await CliRunner.RunAsync(["diff", "apply"],
            """{"pre": {"_id": {"$numberInt": "1"}, "c": {"$binary": {"base64": "AQID", "subType": "07"}}}, "diff": {"b": {"c": {"o": {"$numberInt": "2"}, "d": {"$binary": {"base64": "CQk=", "subType": "00"}}}}}}""" + "\n");
        Assert.Equal(0, code);
        var post = BsonDocument.Parse(output.Trim())["post"].AsBsonDocument;
        var binary = post["c"].AsBsonBinaryData;
        Assert.Equal(BsonBinarySubType.Column, binary.SubType);
        Assert.Equal(new byte[] { 1, 2, 9, 9 }, binary.Bytes);
    }
}
