using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Driver;
using WapBackup.Functions.Schedule;
using WapBackup.Shared.Oplog;
using WapBackup.Shared.Recovery;
using WapBackup.Shared.Repositories;
using WapBackup.Shared.Retention;
using WapBackup.Shared.Snapshots;
using WapBackup.Shared.Storage;
using WapBackup.Shared.Tasks;
using WapBackup.Testing.Mongo;

namespace WapBackup.Functions.Tests.Simulation;

/// <summary>
/// Issue 12's check: 60 days of the schedule on the local cloud in minutes, with one injected clock
/// (<see cref="SimulatedCloud"/>). Every simulated hour: a small workload on the source at random seconds, then the
/// product's schedule step (<see cref="ScheduleTick"/>); each job it starts is carried out in-process by the product's
/// own verb for it (<c>ddt init</c>'s runner, <c>ddt snapshot</c>, <c>ddt prune</c>), as the SSM command of its workflow
/// would run it with <c>--task</c>, after <c>ddt capture</c> has caught up and sealed. Step Functions and SSM are not in
/// the loop (they run on real time; their own tests cover them): the job's task ends within its tick, so the next tick
/// sees it done. The policy's schedule is edited once, mid-run. Checked: every due job ran exactly once, at its hour
/// (the expected runs computed from the policy's words, <see cref="ExpectedSchedule"/>); after every prune two
/// restores at random instants of the recovery window the product reports match the simulation's own record of the
/// source at that instant; after every tick nothing the retention rule said may go a day earlier is still in storage,
/// and the window reaches from the rule's start to the newest sealed entry without a gap.
/// Seed: <c>WAP_SIMULATION_SEED</c> (printed); <c>WAP_SIMULATION_DAYS</c> shortens the run while debugging.
/// </summary>
public sealed class SimulatedRunTests(DynamoFixture dynamo)
{
    private static readonly DateTimeOffset Start = new(2027, 1, 4, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Sixty_simulated_days_run_every_due_job_once_at_its_hour_keep_every_instant_of_the_window_restorable_and_prune_within_a_day()
    {
        int seed = Environment.GetEnvironmentVariable("WAP_SIMULATION_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        int days = Environment.GetEnvironmentVariable("WAP_SIMULATION_DAYS") is { Length: > 0 } d ? int.Parse(d, CultureInfo.InvariantCulture) : 60;
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"simulation seed {seed} (WAP_SIMULATION_SEED), {days} days");
        string Context() => $" (seed {seed})";
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(TimeSpan.FromMinutes(10)); // a job waiting on the standing clock would hang: fail instead
        var ct = bound.Token;
        var random = new Random(seed);
        var watch = Stopwatch.StartNew();
        var spent = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        async Task<T> Timed<T>(string what, Func<Task<T>> step)
        {
            long began = Stopwatch.GetTimestamp();
            try
            {
                return await step();
            }
            finally
            {
                spent[what] = spent.GetValueOrDefault(what) + Stopwatch.GetElapsedTime(began);
            }
        }

        await using var cloud = await SimulatedCloud.StartAsync(dynamo, Start, ct);
        var clock = cloud.Clock;
        var end = Start.AddDays(days);
        var initTime = Start.AddHours(1);
        // The edit: the trigger hour moves from 02 to 20 (the prune's from 14 to 08) at 06:30 on day 30.
        var edit = Start.AddDays(30).AddHours(6).AddMinutes(30);
        var grids = new List<ExpectedSchedule.Grid> { new(initTime, 2, 1) };
        if (edit < end)
        {
            grids.Add(new(edit, 20, 1));
        }
        var repository = BackupRepository.CreateNew(BackupRepository.NewId(), cloud.Policy(initTime, 2), clock.GetUtcNow());
        await cloud.Repositories.CreateAsync(repository, ct);
        var model = new SourceModel(cloud.SourceClient.GetDatabase(SimulatedCloud.Database), clock, random);
        await model.CreateIndexesAsync(ct);

        var started = new List<ScheduledRun>();
        var plans = new Queue<(DateTimeOffset At, RetentionPlan Plan)>();
        var snapshotTs = new Dictionary<string, OplogTimestamp>(StringComparer.Ordinal);
        Inventory? inventory = null;
        OplogTimestamp? sealedThrough = null;
        int restores = 0, prunes = 0;

        for (var hour = Start; hour < end; hour = hour.AddHours(1))
        {
            var tickAt = hour.AddHours(1);
            int writes = hour < initTime ? 30 : random.Next(2, 6);
            if (edit >= hour && edit < tickAt)
            {
                await Timed("writes", async () => { await model.WriteHourAsync(hour, edit, writes / 2, ct); return 0; });
                clock.SetUtcNow(edit);
                var current = await cloud.Repositories.GetAsync(repository.Id, ct);
                await cloud.Repositories.UpdateAsync(current.WithPolicy(current.Policy with { TriggerHourUtc = grids[1].TriggerHourUtc }, edit), edit, ct);
                await Timed("writes", async () => { await model.WriteHourAsync(edit, tickAt, writes - writes / 2, ct); return 0; });
            }
            else
            {
                await Timed("writes", async () => { await model.WriteHourAsync(hour, tickAt, writes, ct); return 0; });
            }
            clock.SetUtcNow(tickAt);

            ScheduleTickResult tick = await Timed("ticks", () => cloud.TickAsync(ct));
            Assert.True(tick.NotStarted.Count == 0, $"at {tickAt:u}: not started: {string.Join("; ", tick.NotStarted)}{Context()}");
            Assert.True(tick.Overdue.Count == 0, $"at {tickAt:u}: SnapshotOverdue{Context()}");
            bool changed = false;
            if (tick.Start.Count > 0)
            {
                sealedThrough = await Timed("capture", () => cloud.CatchUpCaptureAsync(repository.Id, ct));
                changed = true;
            }
            foreach (JobStart job in tick.Start)
            {
                Assert.Equal(repository.Id, job.RepositoryId);
                started.Add(new ScheduledRun(job.Job, DateTimeOffset.Parse(job.Slot, CultureInfo.InvariantCulture), tickAt));
                switch (job.Job)
                {
                    case "init":
                        await Timed("init", () => cloud.InitAsync(repository.Id, job.TaskId, ct));
                        break;
                    case "snapshot":
                        JsonElement snapshot = await Timed("snapshots", () => cloud.SnapshotAsync(repository.Id, job.TaskId, ct));
                        Assert.Equal("verified", snapshot.GetProperty("outcome").GetString());
                        snapshotTs[snapshot.GetProperty("snapshotId").GetString()!] = OplogTimestamp.Parse(snapshot.GetProperty("ts").GetString()!);
                        break;
                    case "prune":
                        JsonElement pruned = await Timed("prunes", () => cloud.PruneAsync(repository.Id, job.TaskId, ct));
                        Assert.Equal("pruned", pruned.GetProperty("outcome").GetString());
                        prunes++;
                        restores += await Timed("restores", () => RestoreTwiceAsync(cloud, model, repository.Id, sealedThrough!.Value, random, Context(), ct));
                        break;
                    default:
                        Assert.Fail($"unexpected job {job.Job} at {tickAt:u}{Context()}");
                        break;
                }
                BackupTask task = await cloud.Tasks.GetAsync(job.TaskId, ct);
                Assert.True(task.Status == BackupTaskStatus.Succeeded, $"{job.Job} task {task.Id} at {tickAt:u}: {task.Status} {task.Progress.Message}{Context()}");
            }
            if (snapshotTs.Count == 0)
            {
                continue;
            }
            // Storage changes only through the jobs and capture above: a listing after them stands for every tick until the next.
            if (changed || inventory is null)
            {
                inventory = await Timed("listings", () => Inventory.ListAsync(cloud, repository.Id, snapshotTs, ct));
            }
            var policy = (await Timed("policy reads", () => cloud.Repositories.GetAsync(repository.Id, ct))).Policy;
            CheckWindow(inventory, tickAt, policy, snapshotTs, sealedThrough!.Value, Context());
            plans.Enqueue((tickAt, RetentionRule.Plan(new RetentionInput(tickAt, policy.RecoverDataFromDays, policy.KeepS3FileDays, inventory.Snapshots, inventory.Oplog))));
            while (plans.Peek().At <= tickAt.AddDays(-1))
            {
                var (at, plan) = plans.Dequeue();
                CheckPrunedWithinADay(inventory, at, plan, tickAt, Context());
            }
        }

        var expected = ExpectedSchedule.Runs(initTime, grids, end);
        started = [.. started.OrderBy(r => r.StartedAt).ThenBy(r => r.Job, StringComparer.Ordinal)];
        Assert.True(expected.SequenceEqual(started),
            $"runs started differ from the policy's{Context()}:\n  missing: {string.Join(", ", expected.Except(started))}\n  unexpected: {string.Join(", ", started.Except(expected))}");
        // The task records say the same: one scheduled task per run, created at its tick, for its slot.
        var tasks = await ScheduledTasksAsync(cloud, repository.Id, ct);
        Assert.Equal(expected.Select(r => (r.Job, r.Slot, r.StartedAt)).Order(), tasks.Order());
        output?.WriteLine($"{days} days in {watch.Elapsed.TotalSeconds:0} s: {started.Count} scheduled runs ({prunes} prunes), {restores} restores, {model.Writes} writes; {string.Join(", ", spent.Select(p => $"{p.Key} {p.Value.TotalSeconds:0.0} s"))}");
    }

    /// <summary>After a prune: two instants of the reported window restored to fresh servers, each equal to the record of the source then.</summary>
    private static async Task<int> RestoreTwiceAsync(SimulatedCloud cloud, SourceModel model, string repositoryId, OplogTimestamp sealedThrough, Random random, string context, CancellationToken ct)
    {
        RecoveryWindowReport report = await cloud.RecoveryWindowAsync(repositoryId, ct);
        // The newest window reaches the sealed end; older kept snapshots whose oplog went are single instants (rule step 5).
        var window = report.Windows[^1];
        Assert.True(report.Gaps.Count == 0 && report.Skipped.Count == 0, $"window report at {cloud.Clock.GetUtcNow():u}: gaps {report.Gaps.Count}, skipped {report.Skipped.Count}{context}");
        Assert.True(window.Latest >= sealedThrough, $"the window ends at {window.Latest}, before the sealed {sealedThrough}{context}");
        for (int i = 0; i < 2; i++)
        {
            // Whole seconds: --at ISO means the end of that second, so the last second of the window is left out.
            long second = window.Earliest.Seconds + (long)(random.NextDouble() * (window.Latest.Seconds - window.Earliest.Seconds));
            string at = DateTimeOffset.FromUnixTimeSeconds(second).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            List<string> differences = [];
            JsonElement restored = await cloud.RestoreAsync(repositoryId, at, i == 0 ? null : "slices", async db => differences = await model.DifferencesAsync(db, second, ct), ct);
            Assert.Equal("restored", restored.GetProperty("outcome").GetString());
            Assert.True(differences.Count == 0, $"restore --at {at} ({(i == 0 ? "store" : "slices")}), window {window.Earliest}..{window.Latest}: {differences.Count} differences{context}:\n  {string.Join("\n  ", differences.Take(20))}");
        }
        return 2;
    }

    /// <summary>One window from the rule's start (or the first snapshot) to the newest sealed entry, without a gap.</summary>
    private static void CheckWindow(Inventory inventory, DateTimeOffset now, RepositoryPolicy policy, Dictionary<string, OplogTimestamp> snapshots, OplogTimestamp sealedThrough, string context)
    {
        var windows = RetentionRule.RecoveryWindows(inventory.Snapshots, inventory.Oplog);
        long windowStart = now.ToUnixTimeSeconds() - policy.RecoverDataFromDays * 86_400L;
        long required = Math.Max(windowStart, snapshots.Values.Min().Seconds);
        Assert.True(windows.Any(w => w.Earliest.Seconds <= required && w.Latest >= sealedThrough),
            $"at {now:u}: windows {string.Join(", ", windows.Select(w => $"{w.Earliest}..{w.Latest}"))}; needed one from second {required} through {sealedThrough}{context}");
    }

    /// <summary>What the rule let go at <paramref name="planned"/> is gone a day later: those snapshots' folders, and the slices wholly before the cut but one.</summary>
    private static void CheckPrunedWithinADay(Inventory inventory, DateTimeOffset planned, RetentionPlan plan, DateTimeOffset now, string context)
    {
        var kept = plan.Delete.Where(inventory.SnapshotFolders.Contains).ToList();
        Assert.True(kept.Count == 0, $"at {now:u}: snapshots the rule let go at {planned:u} are still stored: {string.Join(", ", kept)}{context}");
        if (plan.DeleteOplogBefore is { } cut)
        {
            // The newest slice starting at or before the cut stays (decision 0601); any older one may go and must be gone.
            var before = inventory.Slices.Where(s => s.First <= cut).ToList();
            Assert.True(before.Count <= 1, $"at {now:u}: {before.Count} slices start at or before {cut}, the cut planned at {planned:u}: {string.Join(", ", before.Select(b => $"{b.First}..{b.Last}"))}{context}");
        }
    }

    private static async Task<List<(string Job, DateTimeOffset Slot, DateTimeOffset CreatedAt)>> ScheduledTasksAsync(SimulatedCloud cloud, string repositoryId, CancellationToken ct)
    {
        var found = new List<(string, DateTimeOffset, DateTimeOffset)>();
        string? token = null;
        do
        {
            var page = await cloud.Tasks.ListByRepositoryAsync(repositoryId, new WapBackup.Shared.Ports.PageRequest(WapBackup.Shared.Ports.PageRequest.MaxLimit, token), ct);
            found.AddRange(page.Items.Where(t => t.Details.ContainsKey("scheduledSlot"))
                .Select(t => (WireEnum(t.Kind), DateTimeOffset.Parse(t.Details["scheduledSlot"], CultureInfo.InvariantCulture), t.CreatedAt)));
            token = page.NextToken;
        }
        while (token is not null);
        return found;
    }

    private static string WireEnum(TaskKind kind) => WapBackup.Shared.Ports.WireEnum<TaskKind>.ToWire(kind);

    /// <summary>
    /// What the bucket holds for the repository, from one listing: snapshot folders (a manifest makes a snapshot, decision
    /// 0731; its ts is the one its verb reported), and the slices by their names, consecutive slices read as one range
    /// (the chain links themselves are the product's recovery window's to check, at every prune).
    /// </summary>
    private sealed record Inventory(IReadOnlySet<string> SnapshotFolders, IReadOnlyList<RetentionSnapshot> Snapshots, IReadOnlyList<OplogRange> Slices, IReadOnlyList<OplogRange> Oplog)
    {
        public static async Task<Inventory> ListAsync(SimulatedCloud cloud, string repositoryId, Dictionary<string, OplogTimestamp> ts, CancellationToken ct)
        {
            string snapshotsFolder = SnapshotLayout.SnapshotsFolder("sim", repositoryId);
            var folders = new HashSet<string>(StringComparer.Ordinal);
            var manifests = new List<RetentionSnapshot>();
            foreach (string key in await cloud.KeysAsync(snapshotsFolder, ct))
            {
                string id = key[snapshotsFolder.Length..key.IndexOf('/', snapshotsFolder.Length)];
                folders.Add(id);
                if (key.EndsWith("/" + SnapshotLayout.ManifestName, StringComparison.Ordinal))
                {
                    Assert.True(ts.ContainsKey(id), $"a manifest of a snapshot no verb reported: {key}");
                    manifests.Add(new RetentionSnapshot(id, ts[id], Verified: true));
                }
            }
            Assert.True(folders.SetEquals(manifests.Select(m => m.Id)), $"snapshot folders without a manifest: {string.Join(", ", folders.Except(manifests.Select(m => m.Id)))}");
            var slices = new List<OplogRange>();
            foreach (string key in await cloud.KeysAsync(OplogSliceLayout.OplogFolder("sim", repositoryId), ct))
            {
                if (key.EndsWith(OplogSliceLayout.IndexSuffix, StringComparison.Ordinal) && OplogSliceLayout.TryParseRange(key, out var first, out var last))
                {
                    slices.Add(new OplogRange(first, last));
                }
            }
            slices.Sort((a, b) => a.First.CompareTo(b.First));
            for (int i = 1; i < slices.Count; i++)
            {
                Assert.True(slices[i].First > slices[i - 1].Last, $"overlapping slices {slices[i - 1].First}..{slices[i - 1].Last} and {slices[i].First}..{slices[i].Last}");
            }
            OplogRange[] oplog = slices.Count == 0 ? [] : [new OplogRange(slices[0].First, slices[^1].Last)];
            return new Inventory(folders, [.. manifests.OrderBy(m => m.Ts)], slices, oplog);
        }
    }
}
