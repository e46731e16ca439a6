using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

public sealed class OplogClassifierTests
{
    private static OplogClassification Classify(string json, OplogClassifier? classifier = null) =>
        (classifier ?? OplogClassifier.Default).Classify(OplogFixtures.Entry(json));

    [Theory]
    [InlineData("""{op: "n", ns: "", o: {msg: "periodic noop"}}""", SkipReason.Noop)]
    [InlineData("""{op: "n", ns: "shop.orders", o: {msg: "x"}}""", SkipReason.Noop)]
    [InlineData("""{op: "i", ns: "shop.orders", o: {_id: 1}, fromMigrate: true}""", SkipReason.FromMigrate)]
    [InlineData("""{op: "i", ns: "local.oplog.rs", o: {_id: 1}}""", SkipReason.InternalNamespace)]
    [InlineData("""{op: "u", ns: "config.system.sessions", o: {_id: 1}, o2: {_id: 1}}""", SkipReason.InternalNamespace)]
    [InlineData("""{op: "i", ns: "config.transactions", o: {_id: 1}}""", SkipReason.InternalNamespace)]
    [InlineData("""{op: "i", ns: "config.cache.chunks.db.c", o: {_id: 1}}""", SkipReason.InternalNamespace)]
    [InlineData("""{op: "i", ns: "config.system.preimages", o: {_id: 1}}""", SkipReason.InternalNamespace)]
    [InlineData("""{op: "i", ns: "__mdb_internal_x.c", o: {_id: 1}}""", SkipReason.InternalNamespace)]
    [InlineData("""{op: "i", ns: "admin.system.users", o: {_id: "admin.u"}}""", SkipReason.UsersAndRolesOutOfScope)]
    [InlineData("""{op: "i", ns: "admin.system.roles", o: {_id: "admin.r"}}""", SkipReason.UsersAndRolesOutOfScope)]
    [InlineData("""{op: "i", ns: "admin.other", o: {_id: 1}}""", SkipReason.Filtered)]
    [InlineData("""{op: "i", ns: "config.databases", o: {_id: 1}}""", SkipReason.Filtered)]
    [InlineData("""{op: "c", ns: "shop.$cmd", o: {startIndexBuild: "orders", indexBuildUUID: 1}}""", SkipReason.IndexBuildMarker)]
    [InlineData("""{op: "c", ns: "shop.$cmd", o: {abortIndexBuild: "orders", indexBuildUUID: 1}}""", SkipReason.IndexBuildMarker)]
    [InlineData("""{op: "c", ns: "local.$cmd", o: {create: "x"}}""", SkipReason.InternalNamespace)]
    public void Skips_by_the_rules(string json, SkipReason reason)
    {
        Assert.Equal(OplogClassification.Skip(reason) with { Detail = Classify(json).Detail }, Classify(json));
    }

    [Fact]
    public void Data_and_commands_on_user_namespaces_are_applied()
    {
        Assert.Equal(OplogAction.Apply, Classify("""{op: "i", ns: "shop.orders", o: {_id: 1}}""").Action);
        Assert.Equal(OplogAction.Apply, Classify("""{op: "d", ns: "shop.orders", o: {_id: 1}}""").Action);
        Assert.Equal(new OplogClassification(OplogAction.Command, Detail: "create"), Classify("""{op: "c", ns: "shop.$cmd", o: {create: "orders"}}"""));
        Assert.Equal(new OplogClassification(OplogAction.Command, Detail: "commitIndexBuild"), Classify("""{op: "c", ns: "shop.$cmd", o: {commitIndexBuild: "orders"}}"""));
        Assert.Equal(new OplogClassification(OplogAction.Command, Detail: "dropDatabase"), Classify("""{op: "c", ns: "shop.$cmd", o: {dropDatabase: 1}}"""));
    }

    [Fact]
    public void Transactions_go_to_the_assembler()
    {
        Assert.Equal(new OplogClassification(OplogAction.Transaction, Detail: "applyOps"), Classify("""{op: "c", ns: "admin.$cmd", o: {applyOps: []}}"""));
        Assert.Equal(new OplogClassification(OplogAction.Transaction, Detail: "commitTransaction"), Classify("""{op: "c", ns: "admin.$cmd", o: {commitTransaction: 1}}"""));
        Assert.Equal(new OplogClassification(OplogAction.Transaction, Detail: "abortTransaction"), Classify("""{op: "c", ns: "admin.$cmd", o: {abortTransaction: 1}}"""));
    }

    [Fact]
    public void Unknown_op_and_command_are_reported_not_thrown()
    {
        Assert.Equal(new OplogClassification(OplogAction.UnknownOperation, Detail: "km"), Classify("""{op: "km", ns: "a.b", o: {}}"""));
        Assert.Equal(new OplogClassification(OplogAction.UnknownCommand, Detail: "frobnicate"), Classify("""{op: "c", ns: "a.$cmd", o: {frobnicate: 1}}"""));
        Assert.Equal(OplogAction.Invalid, Classify("""{op: "i", o: {_id: 1}}""").Action);
        Assert.Equal(OplogAction.Invalid, Classify("""{op: "i", ns: "a.b"}""").Action);
    }

    [Fact]
    public void Users_and_roles_in_scope_pass_despite_admin_being_filtered()
    {
        var classifier = new OplogClassifier(NamespaceFilter.Default, usersAndRolesInScope: true);
        Assert.Equal(OplogAction.Apply, Classify("""{op: "i", ns: "admin.system.users", o: {_id: "admin.u"}}""", classifier).Action);
    }

    [Fact]
    public void Config_collections_of_mongorestores_list_pass_when_config_is_included()
    {
        var classifier = new OplogClassifier(new NamespaceFilter(["config", "shop"], []), false);
        Assert.Equal(OplogAction.Apply, Classify("""{op: "i", ns: "config.databases", o: {_id: "x"}}""", classifier).Action);
        Assert.Equal(OplogAction.Skip, Classify("""{op: "i", ns: "config.lockpings", o: {_id: "x"}}""", classifier).Action);
    }

    [Fact]
    public void Commands_are_filtered_by_the_collection_they_act_on()
    {
        var classifier = new OplogClassifier(new NamespaceFilter(["shop.orders"], []), false);
        Assert.Equal(OplogAction.Command, Classify("""{op: "c", ns: "shop.$cmd", o: {drop: "orders"}}""", classifier).Action);
        Assert.Equal(new OplogClassification(OplogAction.Skip, SkipReason.Filtered, "drop"), Classify("""{op: "c", ns: "shop.$cmd", o: {drop: "carts"}}""", classifier));
        Assert.Equal(OplogAction.Command, Classify("""{op: "c", ns: "admin.$cmd", o: {renameCollection: "shop.orders", to: "shop.archive"}}""", classifier).Action);
        Assert.Equal(OplogAction.Skip, Classify("""{op: "c", ns: "admin.$cmd", o: {renameCollection: "shop.a", to: "shop.b"}}""", classifier).Action);
        Assert.Equal(OplogAction.Command, Classify("""{op: "c", ns: "shop.$cmd", o: {dropDatabase: 1}}""", classifier).Action);
        Assert.Equal(OplogAction.Skip, Classify("""{op: "c", ns: "other.$cmd", o: {dropDatabase: 1}}""", classifier).Action);
    }

    [Fact]
    public void A_rename_from_outside_the_filter_into_it_requires_a_reinit_naming_both_namespaces()
    {
        var classifier = new OplogClassifier(new NamespaceFilter(["shop.orders"], []), false);

        var decision = Classify("""{op: "c", ns: "admin.$cmd", o: {renameCollection: "shop.tmp", to: "shop.orders", dropTarget: true}}""", classifier);

        Assert.Equal(OplogAction.ReinitRequired, decision.Action);
        Assert.Contains("shop.tmp", decision.Detail, StringComparison.Ordinal);
        Assert.Contains("shop.orders", decision.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Filter_includes_excludes_and_system_databases()
    {
        var filter = new NamespaceFilter(["shop", "crm.contacts"], ["shop.tmp"]);
        Assert.True(filter.Allows("shop.orders"));
        Assert.False(filter.Allows("shop.tmp"));
        Assert.True(filter.Allows("crm.contacts"));
        Assert.False(filter.Allows("crm.leads"));
        Assert.False(filter.Allows("shopping.x"));
        Assert.False(NamespaceFilter.Default.Allows("admin.x"));
        Assert.False(NamespaceFilter.Default.Allows("config.x"));
        Assert.False(NamespaceFilter.Default.Allows("local.x"));
        Assert.True(NamespaceFilter.Default.Allows("anything.at.all"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" shop")]
    [InlineData("sh$op")]
    [InlineData("shop.")]
    [InlineData(".orders")]
    public void Bad_patterns_are_rejected_naming_the_pattern(string pattern)
    {
        var error = Assert.Throws<ArgumentException>(() => new NamespaceFilter(["ok", pattern], []));
        Assert.Contains($"include pattern #2 '{pattern}'", error.Message, StringComparison.Ordinal);
    }
}
