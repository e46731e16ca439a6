using WapBackup.Testing.Mongo.Wire;

namespace WapBackup.Testing.Mongo.Commands;

/// <summary>
/// MongoDB's <c>failCommand</c> fail point, as a test knob: the next N commands of a name on one
/// collection fail with a given code before they run (nothing is written), so tests can show what a
/// failed write leaves behind.
/// </summary>
public sealed class CommandFailPoints
{
    private readonly object _gate = new();
    private readonly List<FailPoint> _points = [];
    private volatile int _armed; // read without the lock: every command passes here

    public void Arm(string command, string collection, int times, int code)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(times, 1);
        lock (_gate)
        {
            _points.Add(new FailPoint(command, collection, code) { Remaining = times });
            _armed = _points.Count;
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _points.Clear();
            _armed = 0;
        }
    }

    /// <summary>Throws when an armed fail point matches the command (and counts it down).</summary>
    public void Check(CommandRequest request)
    {
        if (_armed == 0)
        {
            return;
        }
        lock (_gate)
        {
            if (_points.Count == 0 || !request.Body.TryGetValue(request.Name, out var target) || !target.IsString)
            {
                return;
            }
            var point = _points.Find(p => p.Command == request.Name && p.Collection == target.AsString);
            if (point is null)
            {
                return;
            }
            if (--point.Remaining == 0)
            {
                _points.Remove(point);
                _armed = _points.Count;
            }
            throw new CommandException(point.Code, "FailPointTriggered", $"failCommand fail point: {request.Name} on {point.Collection} failed as the test asked");
        }
    }

    private sealed record FailPoint(string Command, string Collection, int Code)
    {
        public int Remaining { get; set; }
    }
}
