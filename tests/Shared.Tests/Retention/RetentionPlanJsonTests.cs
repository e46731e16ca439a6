using WapBackup.Shared.Retention;

namespace WapBackup.Shared.Tests.Retention;

public sealed class RetentionPlanJsonTests
{
    private const string Valid =
        """{"now": "2025-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [{"id": "a", "ts": "1764374400:1", "verified": true}, {"id": "b", "ts": "1764547200:3", "verified": true}], "oplog": [{"first": "1764374400:1", "last": "1764547300:9"}]}""";

    [Fact]
    public async Task Each_line_gets_one_answer_line_and_a_malformed_line_does_not_stop_the_next()
    {
        var output = new StringWriter();
        int errors = await RetentionPlanJson.AnswerLinesAsync(new StringReader(Valid + "\nnot json\n" + Valid + "\n"), output, TestContext.Current.CancellationToken);

        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1, errors);
        Assert.Equal(3, lines.Length);
        // now - 1 day = 1764460800: a (1764374400) is the base; b is newer than K = now - 2 days.
        const string Plan = """{"keep":["a","b"],"delete":[],"deleteOplogBefore":"1764374400:1","windows":[{"earliest":"1764374400:1","latest":"1764547300:9"}]}""";
        Assert.Equal(Plan, lines[0]);
        Assert.StartsWith("""{"error":"the line is not JSON""", lines[1], StringComparison.Ordinal);
        Assert.Equal(Plan, lines[2]);
    }

    [Fact]
    public void No_base_is_null_not_absent()
    {
        string answer = RetentionPlanJson.Format(RetentionRule.Plan(RetentionPlanJson.Parse(
            """{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [], "oplog": []}""")));
        Assert.Equal("""{"keep":[],"delete":[],"deleteOplogBefore":null,"windows":[]}""", answer);
    }

    [Theory]
    [InlineData("""[]""", "must be a JSON object")]
    [InlineData("""{"recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [], "oplog": []}""", "now: is required")]
    [InlineData("""{"now": "2026-12-01T00:00:00", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [], "oplog": []}""", "now: must be an ISO-8601 date-time with a zone")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": -1, "keepS3FileDays": 2, "snapshots": [], "oplog": []}""", "recoverDataFromDays: must be a whole number of days")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1.5, "keepS3FileDays": 2, "snapshots": [], "oplog": []}""", "recoverDataFromDays: must be a whole number of days")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [{"id": "a", "ts": "12", "verified": true}], "oplog": []}""", "snapshots[0].ts: must be an oplog timestamp")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [{"id": "a", "ts": "1:1", "verified": "yes"}], "oplog": []}""", "snapshots[0].verified: must be true or false")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [{"id": "a", "ts": "1:1", "verified": true}, {"id": "a", "ts": "2:1", "verified": true}], "oplog": []}""", "snapshots[1].id: 'a' appears twice")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [], "oplog": [{"first": "5:1", "last": "4:1"}]}""", "oplog[0]: first 5:1 is after last 4:1")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [], "oplog": [{"first": "5:1", "last": "9:1"}, {"first": "1:1", "last": "5:1"}]}""", "oplog[0]: overlaps oplog[1]")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshot": [], "oplog": []}""", "snapshot: unknown field")]
    [InlineData("""{"now": "2026-12-01T00:00:00Z", "recoverDataFromDays": 1, "keepS3FileDays": 2, "snapshots": [{"id": "a", "ts": "1:1", "verified": true, "size": 3}], "oplog": []}""", "snapshots[0].size: unknown field")]
    public void A_malformed_question_is_refused_naming_the_field_and_the_rule(string line, string expected)
    {
        var error = Assert.Throws<RetentionInputException>(() => RetentionPlanJson.Parse(line));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
