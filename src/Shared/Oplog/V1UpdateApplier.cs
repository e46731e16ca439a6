using MongoDB.Bson;

namespace WapBackup.Shared.Oplog;

/// <summary>
/// Applies a modifier-style update (<c>$v: 1</c>, or operators without <c>$v</c>) as the server's
/// update system does for oplog entries, which only ever hold <c>$set</c> and <c>$unset</c>:
/// paths are dotted; existing fields change in place; missing fields (and missing parents) are
/// created at the end of their document in path order (numeric parts ordered as numbers, as the
/// server's update tree orders them); numeric parts index arrays, padding with null;
/// <c>$unset</c> of an array element sets it to null; unsetting a missing path does nothing.
/// </summary>
public static class V1UpdateApplier
{
    public static BsonDocument Apply(BsonDocument pre, BsonDocument update)
    {
        var root = new Node();
        foreach (var element in update)
        {
            switch (element.Name)
            {
                case "$v":
                    continue;
                case "$set":
                case "$unset":
                    if (element.Value is not BsonDocument fields)
                    {
                        throw new DiffFormatException($"{element.Name} must be a document, got {element.Value.BsonType}");
                    }
                    foreach (var field in fields)
                    {
                        root.Add(field.Name, element.Name == "$set" ? field.Value : null);
                    }
                    break;
                default:
                    throw new DiffFormatException($"unsupported update operator {element.Name} in a $v:1 oplog update (only $set and $unset are written to the oplog)");
            }
        }
        var post = pre.DeepClone().AsBsonDocument;
        root.ApplyTo(post);
        return post;
    }

    private sealed class Node
    {
        // Leaf: HasValue (set) or IsUnset; otherwise an inner node with children.
        private SortedDictionary<string, Node>? _children;
        private BsonValue? _value;
        private bool _isLeaf;
        private string _path = "";

        public void Add(string path, BsonValue? value)
        {
            var parts = path.Split('.');
            var node = this;
            for (int i = 0; i < parts.Length; i++)
            {
                if (parts[i].Length == 0)
                {
                    throw new DiffFormatException($"update path '{path}' has an empty part");
                }
                if (node._isLeaf)
                {
                    throw new DiffFormatException($"Updating the path '{path}' would create a conflict at '{node._path}'");
                }
                node._children ??= new SortedDictionary<string, Node>(PathPartComparer.Instance);
                if (!node._children.TryGetValue(parts[i], out var child))
                {
                    child = new Node { _path = string.Join('.', parts, 0, i + 1) };
                    node._children.Add(parts[i], child);
                }
                else if (i == parts.Length - 1)
                {
                    throw new DiffFormatException($"Updating the path '{path}' would create a conflict at '{child._path}'");
                }
                node = child;
            }
            node._isLeaf = true;
            node._value = value;
        }

        public void ApplyTo(BsonDocument document)
        {
            foreach (var (name, child) in _children ?? [])
            {
                if (child._isLeaf)
                {
                    if (child._value is { } value)
                    {
                        document[name] = value; // in place when present, appended otherwise
                    }
                    else
                    {
                        document.Remove(name);
                    }
                    continue;
                }
                if (!document.TryGetValue(name, out var existing))
                {
                    if (!child.SetsAnything)
                    {
                        continue;
                    }
                    existing = new BsonDocument();
                    document.Add(name, existing);
                }
                child.ApplyToValue(existing);
            }
        }

        private bool SetsAnything => _isLeaf ? _value is not null : (_children?.Values.Any(c => c.SetsAnything) ?? false);

        private void ApplyToValue(BsonValue target)
        {
            switch (target)
            {
                case BsonDocument document:
                    ApplyTo(document);
                    break;
                case BsonArray array:
                    ApplyTo(array);
                    break;
                default:
                    if (SetsAnything)
                    {
                        throw new DiffFormatException($"Cannot create field under '{_path}': it holds a {target.BsonType}");
                    }
                    break;
            }
        }

        private void ApplyTo(BsonArray array)
        {
            foreach (var (name, child) in _children ?? [])
            {
                if (!int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
                {
                    if (child.SetsAnything)
                    {
                        throw new DiffFormatException($"Cannot create field '{name}' in array '{_path}'");
                    }
                    continue;
                }
                if (child._isLeaf)
                {
                    if (child._value is { } value)
                    {
                        Pad(array, index);
                        if (index < array.Count)
                        {
                            array[index] = value;
                        }
                        else
                        {
                            array.Add(value);
                        }
                    }
                    else if (index < array.Count)
                    {
                        array[index] = BsonNull.Value;
                    }
                    continue;
                }
                if (index >= array.Count)
                {
                    if (!child.SetsAnything)
                    {
                        continue;
                    }
                    Pad(array, index);
                    array.Add(new BsonDocument());
                }
                child.ApplyToValue(array[index]);
            }
        }

        private static void Pad(BsonArray array, int index)
        {
            while (array.Count < index)
            {
                array.Add(BsonNull.Value);
            }
        }
    }

    /// <summary>
    /// Orders path parts as the server's update tree does (pathsupport::cmpPathsAndArrayIndexes):
    /// parts starting with a digit and not zero-padded order by length first, others ordinally.
    /// </summary>
    private sealed class PathPartComparer : IComparer<string>
    {
        public static readonly PathPartComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            string a = x ?? "", b = y ?? "";
            bool numericLike = a.Length > 0 && b.Length > 0 && char.IsAsciiDigit(a[0]) && char.IsAsciiDigit(b[0])
                && !(a[0] == '0' && a.Length > 1) && !(b[0] == '0' && b.Length > 1);
            if (numericLike && a.Length != b.Length)
            {
                return a.Length.CompareTo(b.Length);
            }
            return string.CompareOrdinal(a, b);
        }
    }
}
