using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Storage;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Checkpoints;

/// <summary>
/// Saves and restores training checkpoints: a checkpoint is a folder of files (model, optimizer, state.json, ...)
/// stored under runs/{runId}/{jobId}/checkpoints/step-{step:D8}/. The marker file complete.json is written LAST, so
/// a checkpoint whose upload was cut off by a kill is never chosen on resume.
/// </summary>
public interface ICheckpointStore
{
    /// <summary>Stores every file in <paramref name="localFolder"/> as checkpoint <paramref name="step"/>, then drops older ones beyond the kept count.</summary>
    Task<BlobPath> SaveAsync(long step, string localFolder, CancellationToken ct);

    /// <summary>Downloads the newest complete checkpoint into <paramref name="localFolder"/> and returns its step, or null when there is none.</summary>
    Task<long?> RestoreLatestAsync(string localFolder, CancellationToken ct);
}

/// <summary>The checkpoint store over job storage (blob or local folder).</summary>
public sealed class CheckpointStore(IJobStorage storage, string container, string prefix, int keep = 2) : ICheckpointStore
{
    public const string CompleteMarker = "complete.json";

    public static CheckpointStore ForJob(IJobStorage storage, string runId, string jobId, int keep = 2) =>
        new(storage, BlobLayout.Runs, BlobLayout.JobCheckpointsPrefix(runId, jobId), keep);

    /// <summary>The folder (container/prefix) of one step's checkpoint.</summary>
    public BlobPath PathOf(long step) => new(container, $"{prefix}step-{step.ToString("D8", CultureInfo.InvariantCulture)}/");

    public async Task<BlobPath> SaveAsync(long step, string localFolder, CancellationToken ct)
    {
        var folder = PathOf(step);
        var files = new Dictionary<string, string>();
        foreach (var file in Directory.EnumerateFiles(localFolder).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(file);
            if (name == CompleteMarker)
            {
                continue;
            }

            await storage.UploadAsync(file, new BlobPath(container, folder.Name + name), ct).ConfigureAwait(false);
            files[name] = await Sha256Async(file, ct).ConfigureAwait(false);
        }

        var marker = Path.Combine(localFolder, CompleteMarker);
        await File.WriteAllTextAsync(marker, JsonSerializer.Serialize(new CheckpointMarker(step, DateTimeOffset.UtcNow, files), PipelineJson.Options), ct).ConfigureAwait(false);
        await storage.UploadAsync(marker, new BlobPath(container, folder.Name + CompleteMarker), ct).ConfigureAwait(false);
        File.Delete(marker);

        await PruneAsync(step, ct).ConfigureAwait(false);
        return folder;
    }

    public async Task<long?> RestoreLatestAsync(string localFolder, CancellationToken ct)
    {
        foreach (var step in (await CompleteStepsAsync(ct).ConfigureAwait(false)).OrderDescending())
        {
            var folder = PathOf(step);
            var markerFile = Path.Combine(localFolder, CompleteMarker);
            Directory.CreateDirectory(localFolder);
            await storage.DownloadAsync(new BlobPath(container, folder.Name + CompleteMarker), markerFile, ct).ConfigureAwait(false);
            var marker = JsonSerializer.Deserialize<CheckpointMarker>(await File.ReadAllTextAsync(markerFile, ct).ConfigureAwait(false), PipelineJson.Options)!;
            var intact = true;
            foreach (var (name, sha) in marker.Files)
            {
                var local = Path.Combine(localFolder, name);
                try
                {
                    await storage.DownloadAsync(new BlobPath(container, folder.Name + name), local, ct).ConfigureAwait(false);
                }
                catch (FileNotFoundException)
                {
                    intact = false;
                    break;
                }

                if (await Sha256Async(local, ct).ConfigureAwait(false) != sha)
                {
                    intact = false;
                    break;
                }
            }

            if (intact)
            {
                return step;
            }

            // A corrupt checkpoint: fall back to the previous one rather than fail the job.
            foreach (var f in Directory.EnumerateFiles(localFolder))
            {
                File.Delete(f);
            }
        }

        return null;
    }

    /// <summary>Steps that have a complete marker, ascending.</summary>
    public async Task<IReadOnlyList<long>> CompleteStepsAsync(CancellationToken ct)
    {
        var names = await storage.ListAsync(container, prefix, ct).ConfigureAwait(false);
        var steps = new List<long>();
        foreach (var name in names)
        {
            var rest = name[prefix.Length..];
            if (rest.StartsWith("step-", StringComparison.Ordinal) && rest.EndsWith("/" + CompleteMarker, StringComparison.Ordinal)
                && long.TryParse(rest.AsSpan(5, rest.Length - 5 - CompleteMarker.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var step))
            {
                steps.Add(step);
            }
        }

        steps.Sort();
        return steps;
    }

    private async Task PruneAsync(long newest, CancellationToken ct)
    {
        var complete = await CompleteStepsAsync(ct).ConfigureAwait(false);
        var keepSteps = complete.Where(s => s <= newest).OrderDescending().Take(keep).ToHashSet();
        var names = await storage.ListAsync(container, prefix, ct).ConfigureAwait(false);
        foreach (var name in names)
        {
            var rest = name[prefix.Length..];
            var slash = rest.IndexOf('/');
            if (slash < 0 || !rest.StartsWith("step-", StringComparison.Ordinal)
                || !long.TryParse(rest.AsSpan(5, slash - 5), NumberStyles.None, CultureInfo.InvariantCulture, out var step))
            {
                continue;
            }

            // Older than the newest kept checkpoint and not kept: a superseded or half-written one.
            if (!keepSteps.Contains(step) && step < newest)
            {
                await storage.DeleteAsync(new BlobPath(container, name), ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task<string> Sha256Async(string file, CancellationToken ct)
    {
        await using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
    }

    private sealed record CheckpointMarker(long Step, DateTimeOffset SavedUtc, Dictionary<string, string> Files);
}
