using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using WapBackup.Ddt.Restore.Replay;
using WapBackup.Shared.Oplog;

namespace WapBackup.Ddt.Host.Tests.Restore.Replay;

public sealed class NamespaceMapTests
{
    private static readonly OplogTimestamp Ts = new(100, 1);

    private static NamespaceMap Map(string[] includes, params string[] renames) =>
        new(includes, [], renames.Select(NamespaceRename.Parse));

    private static BsonDocument Rewrite(NamespaceMap map, BsonDocument entry)
    {
        var rewritten = map.Rewrite(new ReplayOperation(Ts, new OplogEntry(entry.ToBson())));
        return BsonSerializer.Deserialize<BsonDocument>(rewritten.Entry.Bytes.ToArray());
    }

    private static BsonDocument Cmd(string db, BsonDocument o) => new() { { "ts", new BsonTimestamp(100, 1) }, { "op", "c" }, { "ns", db + ".$cmd" }, { "o", o } };

    [Theory]
    [InlineData("shop.orders", "shop2.orders2")]
    [InlineData("shop.items", "archive.items")]
    [InlineData("other.x", "other.x")]
    public void Collection_rename_wins_over_its_database_rename(string source, string target)
    {
        var map = Map([], "shop.orders=shop2.orders2", "shop=archive");
        Assert.Equal(target, map.Map(source));
    }

    [Fact]
    public void Crud_entries_and_commands_are_renamed()
    {
        var map = Map([], "shop.orders=shop2.orders2");
        var insert = Rewrite(map, new BsonDocument { { "op", "i" }, { "ns", "shop.orders" }, { "o", new BsonDocument("_id", 1) } });
        Assert.Equal("shop2.orders2", insert["ns"].AsString);
        var index = Rewrite(map, Cmd("shop", new BsonDocument { { "createIndexes", "orders" }, { "name", "a_1" } }));
        Assert.Equal("shop2.$cmd", index["ns"].AsString);
        Assert.Equal("orders2", index["o"]["createIndexes"].AsString);
        var rename = Rewrite(map, Cmd("shop", new BsonDocument { { "renameCollection", "shop.orders" }, { "to", "shop.old" }, { "dropTarget", new BsonBinaryData(Guid.NewGuid(), GuidRepresentation.Standard) } }));
        Assert.Equal("shop2.orders2", rename["o"]["renameCollection"].AsString);
        Assert.Equal("shop.old", rename["o"]["to"].AsString);
        Assert.Equal(BsonBoolean.True, rename["o"]["dropTarget"]);
    }

    [Fact]
    public void Rename_out_of_the_filter_becomes_a_drop_of_the_source()
    {
        var map = Map(["shop.orders"]);
        var rewritten = Rewrite(map, Cmd("shop", new BsonDocument { { "renameCollection", "shop.orders" }, { "to", "shop.elsewhere" } }));
        Assert.Equal("shop.$cmd", rewritten["ns"].AsString);
        Assert.Equal(new BsonDocument("drop", "orders"), rewritten["o"].AsBsonDocument);
    }

    [Fact]
    public void Never_restored_namespaces_are_skipped_by_their_rule()
    {
        var map = new NamespaceMap(["admin", "shop"], [], []);
        foreach (var ns in new[] { "shop.system.profile", "admin.system.keys" })
        {
            var entry = new OplogEntry(new BsonDocument { { "op", "i" }, { "ns", ns }, { "o", new BsonDocument("_id", 1) } }.ToBson());
            Assert.Equal(new OplogClassification(OplogAction.Skip, SkipReason.NeverRestored), map.Classify(entry));
        }
        foreach (var ns in new[] { "config.system.sessions", "config.transactions", "local.oplog.rs", "admin.system.users" })
        {
            Assert.False(map.Includes(ns), ns);
        }
        Assert.True(new NamespaceMap([], [], [], usersAndRoles: true).Includes("admin.system.users"));
        Assert.True(map.Includes("shop.orders"));
    }

    [Theory]
    [InlineData("shop")]
    [InlineData("shop=")]
    [InlineData("=shop")]
    [InlineData("shop=shop2.orders")]
    [InlineData("shop.orders=shop2")]
    [InlineData("sh$op=shop2")]
    public void Bad_rename_is_refused_naming_the_rule(string text)
    {
        var e = Assert.Throws<FormatException>(() => NamespaceRename.Parse(text));
        Assert.Contains("--rename", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_namespace_pattern_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new NamespaceMap(["sh*p"], [], []));
        Assert.Contains("sh*p", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new NamespaceMap([], [], [new NamespaceRename("a", "b"), new NamespaceRename("c", "b")]));
    }
    [Theory]
    [InlineData("shop.orders", "shop2.orders2")]
    [InlineData("shop.items", "archive.items")]
    [InlineData("crm.people", null)]
    [InlineData("admin.system.version", null)]
    public void The_loaders_target_applies_the_filter_then_the_most_specific_rename(string source, string? target)
    {
        var map = NamespaceMap.Parse(["shop"], ["shop.hidden"], ["shop.orders=shop2.orders2", "shop=archive"]);
        Assert.Equal(target, map.Target(source));
        Assert.Null(map.Target("shop.hidden"));
    }

    [Fact]
    public void Patterns_and_rename_sources_matching_no_namespace_are_listed()
    {
        var map = NamespaceMap.Parse(["shop", "shpo"], [], ["crm.people=crm.folk", "shop.orders=shop.o2"]);
        Assert.Equal(["shpo", "crm.people"], map.Unmatched(["shop.orders", "shop.items"]));
    }

    [Theory]
    [InlineData("--include", "sh*p")]
    [InlineData("--exclude", "a b")]
    [InlineData("--rename", "shop.orders")]
    public void Parse_refuses_naming_the_option_and_the_value(string option, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => NamespaceMap.Parse(
            option == "--include" ? [value] : [], option == "--exclude" ? [value] : [], option == "--rename" ? [value] : []));
        Assert.Contains($"{option} '{value}'", e.Message, StringComparison.Ordinal);
    }
}
