using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using WapBackup.Shared.Repositories;

namespace WapBackup.Shared.Tests.Repositories;

public sealed class RepositoryPolicyValidatorTests
{
    private static (PolicyValidation Validation, IReadOnlyList<FieldError> Errors) Validate(JsonObject body, RepositoryPolicy? current = null)
    {
        using JsonDocument document = JsonDocument.Parse(body.ToJsonString());
        RepositoryRequestBody read = RepositoryDraftReader.Read(document.RootElement, versionExpected: false);
        PolicyValidation validation = current is null
            ? RepositoryPolicyValidator.ValidateNew(read.Draft, ValidPolicies.Scope, ValidPolicies.Now)
            : RepositoryPolicyValidator.ValidateChange(read.Draft, current, ValidPolicies.Scope, ValidPolicies.Now);
        return (validation, [.. read.Errors, .. validation.Errors]);
    }

    [Fact]
    public void ValidBodyYieldsEveryField()
    {
        var (validation, errors) = Validate(ValidPolicies.Body());
        Assert.Empty(errors);
        RepositoryPolicy policy = validation.Policy!;
        Assert.Equal("orders-prod", policy.Name);
        Assert.Equal(RepositoryType.Ddt, policy.Type);
        Assert.Equal(new MongoClusterReference("cluster-1", "/wap-backup/prod/clusters/cluster-1/uri"), policy.MongoCluster);
        Assert.Equal(new StorageLocation(StorageProvider.AwsS3, "wap-backups", "us-east-1", null, "prod"), policy.Storage);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 2, 0, 0, TimeSpan.Zero), policy.InitTime);
        Assert.Equal(new WorkerMemory(512, 1024, 1024), policy.MemoryMb);
        Assert.Equal(1.5, policy.CacheSizeGb57019);
        Assert.Equal(["orders", "billing.invoices"], policy.Namespaces.Include);
    }

    [Fact]
    public void OptionalFieldsTakeTheirDefaults()
    {
        JsonObject body = ValidPolicies.Body();
        body.Remove("secondaryPreferred");
        body.Remove("dumpRestoreWorkNum");
        body.Remove("restoreDropCollection");
        body.Remove("namespaces");
        RepositoryPolicy policy = Validate(body).Validation.Policy!;
        Assert.True(policy.SecondaryPreferred);
        Assert.True(policy.Notify);
        Assert.Equal(4, policy.DumpRestoreWorkNum);
        Assert.Equal(0, policy.RestoreDropCollection);
        Assert.Empty(policy.Namespaces.Include);
        Assert.Equal(["admin", "config", "local"], policy.Namespaces.Exclude);
    }

    [Fact]
    public void Notify_false_turns_the_repositorys_notifications_off()
    {
        JsonObject body = ValidPolicies.Body();
        body["notify"] = false;
        Assert.False(Validate(body).Validation.Policy!.Notify);
    }

    [Fact]
    public void EveryViolatedRuleIsReportedAtOnceNamingTheField()
    {
        JsonObject body = ValidPolicies.Body();
        body["name"] = "has space";
        body["type"] = "full";
        body["ddtHost"] = "host-1";
        body["storage"]!["provider"] = "linode";
        body["snapshotEveryDays"] = 31;
        body["keepS3FileDays"] = 5;
        body["recoverDataFromDays"] = 5;
        body["triggerHourUtc"] = 24;
        body["cacheSizeGb47019"] = 0;
        body["memoryMb"]!["replay"] = 255;
        body["dumpRestoreWorkNum"] = 65;
        body["restoreDropCollection"] = 2;
        body["initTime"] = "2026-11-20T00:00:00Z";
        body["namespaces"]!["include"] = new JsonArray("bad$db", "local");

        var (validation, errors) = Validate(body);

        Assert.False(validation.IsValid);
        string[] expected =
        [
            "name", "type", "ddtHost", "storage.endpoint", "storage.credentialsParameter", "snapshotEveryDays", "recoverDataFromDays", "triggerHourUtc",
            "cacheSizeGb47019", "memoryMb.replay", "dumpRestoreWorkNum", "restoreDropCollection", "initTime",
            "namespaces.include[0]", "namespaces.include",
        ];
        Assert.Equal(expected.Order(), errors.Select(e => e.Field).Order());
        Assert.All(errors, e => Assert.False(string.IsNullOrWhiteSpace(e.Message)));
    }

    [Fact]
    public void MissingRequiredFieldsAreEachReported()
    {
        var (_, errors) = Validate(new JsonObject());
        string[] required =
        [
            "name", "type", "mongoCluster", "ddtHost", "storage", "snapshotEveryDays", "keepS3FileDays",
            "recoverDataFromDays", "initTime", "triggerHourUtc", "cacheSizeGb47019", "cacheSizeGb57019", "memoryMb",
        ];
        Assert.Equal(required.Order(), errors.Select(e => e.Field).Order());
    }

    [Fact]
    public void MongoHostIsRequiredForDdtButNotForDump()
    {
        JsonObject body = ValidPolicies.Body();
        body.Remove("mongoHost");
        Assert.Contains(Validate(body).Errors, e => e.Field == "mongoHost");
        body["type"] = "dump";
        var (validation, errors) = Validate(body);
        Assert.Empty(errors);
        Assert.Null(validation.Policy!.MongoHost);
    }

    [Theory]
    [InlineData("mongodb://admin:s3cr3t@db.example.com:27017/?replicaSet=rs0")]
    [InlineData("mongodb+srv://user:pa55@cluster0.example.net")]
    [InlineData("admin:s3cr3t@db.example.com")]
    [InlineData("MONGODB://db.example.com")]
    public void ConnectionStringInUriParameterIsRefusedWithoutEchoingIt(string secret)
    {
        JsonObject body = ValidPolicies.Body();
        body["mongoCluster"]!["uriParameter"] = secret;
        var (validation, errors) = Validate(body);
        Assert.False(validation.IsValid);
        FieldError error = Assert.Single(errors);
        Assert.Equal("mongoCluster.uriParameter", error.Field);
        string all = JsonSerializer.Serialize(errors.Select(e => e.Field + " " + e.Message).ToArray());
        Assert.DoesNotContain(secret, all, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", all, StringComparison.Ordinal);
        Assert.DoesNotContain("db.example", all, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://admin:pw@us-east-1.linodeobjects.com")]
    [InlineData("ftp://us-east-1.linodeobjects.com")]
    [InlineData("not a url")]
    public void BadEndpointIsRefusedWithoutEchoingIt(string endpoint)
    {
        JsonObject body = ValidPolicies.Body();
        body["storage"]!["endpoint"] = endpoint;
        FieldError error = Assert.Single(Validate(body).Errors);
        Assert.Equal("storage.endpoint", error.Field);
        Assert.DoesNotContain(endpoint, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LinodeWithEndpointIsValid()
    {
        JsonObject body = ValidPolicies.Body();
        body["ddtHost"] = "mi-0123456789abcdef0";
        body["storage"] = new JsonObject
        {
            ["provider"] = "linode", ["bucket"] = "wap", ["region"] = "us-southeast-1", ["endpoint"] = "https://us-southeast-1.linodeobjects.com",
            ["credentialsParameter"] = "/wap-backup/prod/clusters/cluster-1/storage",
        };
        var (validation, errors) = Validate(body);
        Assert.Empty(errors);
        Assert.Equal(StorageProvider.Linode, validation.Policy!.Storage.Provider);
        Assert.Equal("/wap-backup/prod/clusters/cluster-1/storage", validation.Policy.Storage.CredentialsParameter);
    }

    [Fact]
    public void ShapeErrorsNameTheFieldAndDoNotAlsoReportRequired()
    {
        JsonObject body = ValidPolicies.Body();
        body["snapshotEveryDays"] = "1";
        body["keepS3FileDays"] = 1.5;
        body["secondaryPreferred"] = "yes";
        body["notify"] = "no";
        body["memoryMb"] = new JsonArray(1, 2);
        body["id"] = "repo-x";
        body["color"] = "blue";
        using JsonDocument document = JsonDocument.Parse(body.ToJsonString());
        RepositoryRequestBody read = RepositoryDraftReader.Read(document.RootElement, versionExpected: false);
        Assert.Equal(
            new[] { "color", "id", "keepS3FileDays", "memoryMb", "notify", "secondaryPreferred", "snapshotEveryDays" },
            read.Errors.Select(e => e.Field).Order().ToArray());
        Assert.Contains(read.Errors, e => e.Field == "id" && e.Message.Contains("set by the server", StringComparison.Ordinal));
    }

    [Fact]
    public void DuplicatePropertyIsRefused()
    {
        using JsonDocument document = JsonDocument.Parse("""{"name":"a","name":"b"}""");
        RepositoryRequestBody read = RepositoryDraftReader.Read(document.RootElement, versionExpected: false);
        Assert.Contains(read.Errors, e => e.Field == "name" && e.Message == "appears more than once");
    }

    [Fact]
    public void UpdateNeedsVersion()
    {
        using JsonDocument document = JsonDocument.Parse(ValidPolicies.Body().ToJsonString());
        RepositoryRequestBody read = RepositoryDraftReader.Read(document.RootElement, versionExpected: true);
        Assert.Contains(read.Errors, e => e.Field == "version");
    }

    [Fact]
    public void ChangeKeepsPastInitTimeButRefusesTypeAndStorageChanges()
    {
        JsonObject body = ValidPolicies.Body();
        RepositoryPolicy current = Validate(body).Validation.Policy!;
        DateTimeOffset later = ValidPolicies.Now.AddDays(30);

        using JsonDocument same = JsonDocument.Parse(body.ToJsonString());
        var unchanged = RepositoryPolicyValidator.ValidateChange(RepositoryDraftReader.Read(same.RootElement, false).Draft, current, ValidPolicies.Scope, later);
        Assert.True(unchanged.IsValid);

        body["type"] = "dump";
        body["storage"]!["bucket"] = "other-bucket";
        body["initTime"] = "2026-12-01T00:00:00Z";
        using JsonDocument changed = JsonDocument.Parse(body.ToJsonString());
        var refused = RepositoryPolicyValidator.ValidateChange(RepositoryDraftReader.Read(changed.RootElement, false).Draft, current, ValidPolicies.Scope, later);
        Assert.Equal(["initTime", "storage", "type"], refused.Errors.Select(e => e.Field).Order());
    }

    [Fact]
    public void NumericRangesHoldForEveryValue()
    {
        // snapshotEveryDays 1-30, triggerHourUtc 0-23, dumpRestoreWorkNum 1-64, memory >= 256.
        Gen.Select(Gen.Long[-1000, 1000], Gen.Int[0, 3]).Sample((value, field) =>
        {
            (string name, long min, long max) = field switch
            {
                0 => ("snapshotEveryDays", 1L, 30L),
                1 => ("triggerHourUtc", 0L, 23L),
                2 => ("dumpRestoreWorkNum", 1L, 64L),
                _ => ("cacheSizeGb47019", 1L, 4096L),
            };
            JsonObject body = ValidPolicies.Body();
            body[name] = value;
            bool valid = Validate(body).Errors.Count == 0;
            bool expected = field == 3 ? value > 0 && value <= max : value >= min && value <= max;
            return valid == expected;
        }, iter: 2000);
    }

    [Fact]
    public void RecoverWindowMustBeShorterThanKeepDays()
    {
        Gen.Select(Gen.Int[1, 100], Gen.Int[1, 100]).Sample((keep, recover) =>
        {
            JsonObject body = ValidPolicies.Body();
            body["keepS3FileDays"] = keep;
            body["recoverDataFromDays"] = recover;
            return (Validate(body).Errors.Count == 0) == (recover < keep);
        }, iter: 1000);
    }

    [Fact]
    public void NamesFollowTheCharacterRule()
    {
        Gen.String[Gen.Char.AlphaNumeric, 0, 70].Sample(name =>
        {
            JsonObject body = ValidPolicies.Body();
            body["name"] = name;
            bool expected = name.Length is >= 1 and <= 64;
            return (Validate(body).Errors.Count == 0) == expected;
        }, iter: 500);
    }

    [Fact]
    public void CredentialsParameterIsRequiredForLinode()
    {
        JsonObject body = ValidPolicies.Body();
        body["storage"] = new JsonObject { ["provider"] = "linode", ["bucket"] = "wap", ["region"] = "us-southeast-1", ["endpoint"] = "https://us-southeast-1.linodeobjects.com" };
        FieldError error = Assert.Single(Validate(body).Errors);
        Assert.Equal("storage.credentialsParameter", error.Field);
        Assert.Contains("required for provider linode", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CredentialsParameterIsOptionalForAwsS3AndShownBackWhenGiven()
    {
        RepositoryPolicy byRole = Validate(ValidPolicies.Body()).Validation.Policy!;
        Assert.Null(byRole.Storage.CredentialsParameter);

        JsonObject body = ValidPolicies.Body();
        body["storage"]!["credentialsParameter"] = "/wap-backup/prod/clusters/cluster-1/s3-keys";
        var (validation, errors) = Validate(body);
        Assert.Empty(errors);
        Assert.Equal("/wap-backup/prod/clusters/cluster-1/s3-keys", validation.Policy!.Storage.CredentialsParameter);
        Assert.Equal("/wap-backup/prod/clusters/cluster-1/s3-keys", RepositoryDraft.From(validation.Policy).Storage!.CredentialsParameter);
    }

    [Theory]
    [InlineData("AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]
    [InlineData("{\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\",\"secretAccessKey\":\"wJalrXUtnFEMI\"}")]
    [InlineData("https://AKIAIOSFODNN7EXAMPLE@us-east-1.linodeobjects.com")]
    public void CredentialsInCredentialsParameterAreRefusedWithoutEchoingThem(string secret)
    {
        JsonObject body = ValidPolicies.Body();
        body["storage"]!["credentialsParameter"] = secret;
        FieldError error = Assert.Single(Validate(body).Errors);
        Assert.Equal("storage.credentialsParameter", error.Field);
        Assert.DoesNotContain("AKIAIOSFODNN7EXAMPLE", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wJalrXUtnFEMI", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mongoCluster", "uriParameter")]
    [InlineData("storage", "credentialsParameter")]
    public void ParameterNamesMustBeUnderTheStageClustersPath(string parent, string field)
    {
        foreach (string name in new[] { "/wap/backup/orders/uri", "/wap-backup/dev/clusters/cluster-1/uri", "/wap-backup/prod/clustersX/c", "orders-uri", "/wap-backup/prod/cluster-1/uri" })
        {
            JsonObject body = ValidPolicies.Body();
            body[parent]![field] = name;
            FieldError error = Assert.Single(Validate(body).Errors);
            Assert.Equal($"{parent}.{field}", error.Field);
            Assert.Contains("/wap-backup/prod/clusters/", error.Message, StringComparison.Ordinal);
        }
        JsonObject valid = ValidPolicies.Body();
        valid[parent]![field] = "/wap-backup/prod/clusters/other-cluster/x";
        Assert.Empty(Validate(valid).Errors);
    }

    [Fact]
    public void BucketMustBeOneOfTheBackupBuckets()
    {
        JsonObject body = ValidPolicies.Body();
        body["storage"]!["bucket"] = "someone-elses-bucket";
        FieldError error = Assert.Single(Validate(body).Errors);
        Assert.Equal("storage.bucket", error.Field);
        Assert.Contains("BackupBuckets", error.Message, StringComparison.Ordinal);
        Assert.Contains("wap-backups", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CredentialsParameterMayChangeAfterCreationButTheBucketMayNot()
    {
        JsonObject body = ValidPolicies.Body();
        RepositoryPolicy current = Validate(body).Validation.Policy!;
        body["storage"]!["credentialsParameter"] = "/wap-backup/prod/clusters/cluster-1/rotated";
        var (rotated, errors) = Validate(body, current);
        Assert.Empty(errors);
        Assert.Equal("/wap-backup/prod/clusters/cluster-1/rotated", rotated.Policy!.Storage.CredentialsParameter);
    }

    [Fact]
    public void DeploymentScopeComesFromTheEnvironmentOrFailsNamingTheVariable()
    {
        var env = new Dictionary<string, string?> { ["WAP_STAGE"] = "dev", ["WAP_BACKUP_BUCKETS"] = "b-one, b-two" };
        DeploymentScope scope = DeploymentScope.FromEnvironment(env.GetValueOrDefault);
        Assert.Equal("/wap-backup/dev/clusters/", scope.ParameterPath);
        Assert.Equal(["b-one", "b-two"], scope.Buckets);

        var noStage = Assert.Throws<InvalidOperationException>(() => DeploymentScope.FromEnvironment(new Dictionary<string, string?> { ["WAP_BACKUP_BUCKETS"] = "b-one" }.GetValueOrDefault));
        Assert.Contains("WAP_STAGE", noStage.Message, StringComparison.Ordinal);
        var noBuckets = Assert.Throws<InvalidOperationException>(() => DeploymentScope.FromEnvironment(new Dictionary<string, string?> { ["WAP_STAGE"] = "dev" }.GetValueOrDefault));
        Assert.Contains("WAP_BACKUP_BUCKETS", noBuckets.Message, StringComparison.Ordinal);
        var badBucket = Assert.Throws<InvalidOperationException>(() => DeploymentScope.FromEnvironment(new Dictionary<string, string?> { ["WAP_STAGE"] = "dev", ["WAP_BACKUP_BUCKETS"] = "Bad_Bucket" }.GetValueOrDefault));
        Assert.Contains("WAP_BACKUP_BUCKETS", badBucket.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("db", true)]
    [InlineData("db.coll", true)]
    [InlineData("db.coll.with.dots", true)]
    [InlineData("", false)]
    [InlineData(".coll", false)]
    [InlineData("db.", false)]
    [InlineData("d b", false)]
    [InlineData("db.co$ll", false)]
    public void NamespacePatternRule(string pattern, bool valid) => Assert.Equal(valid, NamespacePattern.IsValid(pattern));
}
