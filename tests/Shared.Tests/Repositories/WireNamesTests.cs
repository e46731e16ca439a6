using System.Text.Json;
using WapBackup.Shared.Ports;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Tasks;

namespace WapBackup.Shared.Tests.Repositories;

/// <summary>The enum wire names are a contract with the WAP UI (issue 2); JSON and DynamoDB use the same ones.</summary>
public sealed class WireNamesTests
{
    [Fact]
    public void NamesAreTheContractedOnes()
    {
        Assert.Equal(["ddt", "dump"], WireEnum<RepositoryType>.Names);
        Assert.Equal(["aws-s3", "linode"], WireEnum<StorageProvider>.Names);
        Assert.Equal(["pending", "initializing", "active", "paused", "needsReinit", "deleting"], WireEnum<RepositoryStatus>.Names);
        Assert.Equal(["snapshot", "init", "restore", "prune", "dump", "capture", "delete", "compact"], WireEnum<TaskKind>.Names);
        Assert.Equal(["pending", "running", "succeeded", "failed"], WireEnum<BackupTaskStatus>.Names);
        Assert.Equal(["info", "warn", "error"], WireEnum<EventLevel>.Names);
    }

    [Fact]
    public void JsonUsesTheWireNamesBothWays()
    {
        foreach (RepositoryStatus status in Enum.GetValues<RepositoryStatus>())
        {
            string json = JsonSerializer.Serialize(status);
            Assert.Equal($"\"{WireEnum<RepositoryStatus>.ToWire(status)}\"", json);
            Assert.Equal(status, JsonSerializer.Deserialize<RepositoryStatus>(json));
        }
        Assert.Equal("\"aws-s3\"", JsonSerializer.Serialize(StorageProvider.AwsS3));
    }

    [Fact]
    public void ParsingIsExact()
    {
        Assert.True(WireEnum<RepositoryStatus>.TryParse("needsReinit", out RepositoryStatus parsed));
        Assert.Equal(RepositoryStatus.NeedsReinit, parsed);
        Assert.False(WireEnum<RepositoryStatus>.TryParse("NeedsReinit", out _));
        Assert.False(WireEnum<RepositoryStatus>.TryParse("4", out _));
        Assert.False(WireEnum<RepositoryStatus>.TryParse(null, out _));
        Assert.Throws<FormatException>(() => WireEnum<TaskKind>.Parse("backup"));
    }
}
