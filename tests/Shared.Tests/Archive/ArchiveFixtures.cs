using WapBackup.Shared.Archive;
using WapBackup.Testing;

namespace WapBackup.Shared.Tests.Archive;

/// <summary>One row of ../shared/fixtures/archive/MANIFEST.tsv: what an independent reader found in each fixture.</summary>
internal sealed record ArchiveManifestRow(
    string Path,
    long Bytes,
    string Compression,
    string ToolVersion,
    string ServerVersion,
    IReadOnlyList<(string Namespace, long Documents, string Note)> Namespaces,
    int ReaderExit,
    IReadOnlyList<string> ErrorKinds);

internal static class ArchiveFixtures
{
    public static string Folder => SharedFixtures.PathOf("archive");

    public static string PathOf(string relative) => SharedFixtures.PathOf(System.IO.Path.Combine("archive", relative));

    public static IReadOnlyList<ArchiveManifestRow> Manifest()
    {
        var lines = File.ReadAllLines(PathOf("MANIFEST.tsv"));
        var header = lines[0].Split('\t');
        int Column(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new InvalidDataException($"MANIFEST.tsv has no column {name}");
        var rows = new List<ArchiveManifestRow>();
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var cells = line.Split('\t');
            var namespaces = new List<(string, long, string)>();
            string namespaceCell = cells[Column("namespace=documents (data order)")];
            if (namespaceCell != "-")
            {
                foreach (var item in namespaceCell.Split(';'))
                {
                    // "shop.orders=1(open)": namespace, count, note
                    int equals = item.LastIndexOf('=');
                    string rest = item[(equals + 1)..];
                    int paren = rest.IndexOf('(', StringComparison.Ordinal);
                    namespaces.Add((item[..equals], long.Parse(paren < 0 ? rest : rest[..paren], System.Globalization.CultureInfo.InvariantCulture), paren < 0 ? "" : rest[(paren + 1)..^1]));
                }
            }
            string kinds = cells[Column("reader_error_kinds")];
            rows.Add(new ArchiveManifestRow(
                cells[Column("path")],
                long.Parse(cells[Column("bytes")], System.Globalization.CultureInfo.InvariantCulture),
                cells[Column("compression")],
                cells[Column("tool_version")],
                cells[Column("server_version")],
                namespaces,
                int.Parse(cells[Column("reader_exit")], System.Globalization.CultureInfo.InvariantCulture),
                kinds == "-" ? [] : kinds.Split(',')));
        }
        return rows;
    }

    /// <summary>The fixture's archive bytes as a stream, decompressed as its first bytes say.</summary>
    public static Stream OpenArchive(string relative)
    {
        var bytes = File.ReadAllBytes(PathOf(relative));
        var compression = ArchiveStreams.Detect(bytes) ?? ArchiveCompression.None;
        return ArchiveStreams.Decompress(new MemoryStream(bytes, writable: false), compression);
    }

    /// <summary>Every manifest path, or one placeholder that makes the test skip where ../shared is absent.</summary>
    public static TheoryData<string> ManifestPaths(bool valid)
    {
        var data = new TheoryData<string>();
        if (RepositoryRoot.SharedFolder is null)
        {
            data.Add("(../shared absent)");
            return data;
        }
        foreach (var row in Manifest().Where(r => (r.ReaderExit == 0) == valid))
        {
            data.Add(row.Path);
        }
        return data;
    }

    public static ArchiveManifestRow Row(string path)
    {
        string _ = Folder; // skips the test where ../shared is absent
        return Manifest().Single(r => r.Path == path);
    }
}
