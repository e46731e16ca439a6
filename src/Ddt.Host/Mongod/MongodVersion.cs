using System.Globalization;
using System.Text.RegularExpressions;

namespace WapBackup.Ddt.Mongod;

/// <summary>Which mongod the host services may run, and what to install when there is none.</summary>
public static partial class MongodVersion
{
    /// <summary>Oldest supported release series (inclusive).</summary>
    public static readonly Version Oldest = new(6, 0);

    /// <summary>Newest supported release series (inclusive).</summary>
    public static readonly Version Newest = new(8, 0);

    public static string SupportedRange => $"{Oldest.Major}.{Oldest.Minor} to {Newest.Major}.{Newest.Minor}";

    public static string InstallAdvice =>
        $"install MongoDB Community Server {SupportedRange} (package mongodb-org-server from MongoDB's own repository, "
        + "https://www.mongodb.com/docs/manual/administration/install-on-linux/), so that mongod is on PATH, then run ddt mongod again";

    /// <summary>The version in <c>mongod --version</c>'s first line (<c>db version v7.0.14</c>), or null.</summary>
    public static Version? Parse(string versionOutput)
    {
        var match = DbVersion().Match(versionOutput);
        return match.Success
            ? new Version(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture))
            : null;
    }

    public static bool IsSupported(Version version)
    {
        var series = new Version(version.Major, version.Minor);
        return series >= Oldest && series <= Newest;
    }

    [GeneratedRegex(@"db version v(\d+)\.(\d+)\.(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex DbVersion();
}
