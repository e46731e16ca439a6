using MongoDB.Bson;
using WapBackup.Shared.Oplog;

namespace WapBackup.Shared.Tests.Oplog;

/// <summary>
/// Test replayer over in-memory collections: feeds entries through the classifier-free
/// transaction assembler and applies i/u/d with <see cref="UpdateApplier"/>. Commands are recorded, not run.
/// </summary>
internal sealed class InMemoryReplayer
{
    private readonly TransactionAssembler _assembler;

    public InMemoryReplayer(TransactionAssembler? assembler = null) => _assembler = assembler ?? new TransactionAssembler();

    public TransactionAssembler Assembler => _assembler;

    public Dictionary<string, List<BsonDocument>> Collections { get; } = [];

    public List<string> Commands { get; } = [];

    public void Feed(OplogEntry entry)
    {
        string? command = entry.CommandName;
        if (command is "applyOps" or "commitTransaction" or "abortTransaction")
        {
            var outcome = _assembler.Add(entry);
            foreach (var operation in outcome.Operations)
            {
                Apply(operation.Entry);
            }
            return;
        }
        Apply(entry);
    }

    public IReadOnlyList<BsonDocument> Documents(string ns) => Collections.TryGetValue(ns, out var list) ? list : [];

    private void Apply(OplogEntry entry)
    {
        var collection = Collections.TryGetValue(entry.Namespace, out var list) ? list : Collections[entry.Namespace] = [];
        switch (entry.Operation)
        {
            case OplogOperation.Insert:
            {
                var doc = entry.Object!.Value.ToBsonDocument();
                int at = collection.FindIndex(d => d["_id"] == doc["_id"]);
                if (at >= 0) collection[at] = doc; else collection.Add(doc);
                break;
            }
            case OplogOperation.Update:
            {
                var id = entry.Object2!.Value.ToBsonDocument()["_id"];
                int at = collection.FindIndex(d => d["_id"] == id);
                if (at < 0)
                {
                    throw new InvalidOperationException($"update of missing _id {id} in {entry.Namespace}");
                }
                collection[at] = new RawDocument(UpdateApplier.Apply(new RawDocument(collection[at].ToBson()), entry)).ToBsonDocument();
                break;
            }
            case OplogOperation.Delete:
            {
                var id = entry.Object!.Value.ToBsonDocument()["_id"];
                collection.RemoveAll(d => d["_id"] == id);
                break;
            }
            case OplogOperation.Command:
                Commands.Add(entry.CommandName!);
                break;
        }
    }
}
