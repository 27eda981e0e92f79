using System.Security.Cryptography;
using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Storage;
using Pipeline.Training.Checkpoints;

namespace Pipeline.Training.Jobs;

/// <summary>How to run one job: where the spec is, which storage, where to work.</summary>
public sealed record JobRunOptions
{
    /// <summary>A local spec.json file, or a blob path "container/name" in <see cref="Storage"/>.</summary>
    public required string Spec { get; init; }

    public required IJobStorage Storage { get; init; }

    /// <summary>Local scratch folder for the dataset copy, checkpoints being written and outputs.</summary>
    public required string WorkFolder { get; init; }

    /// <summary>Readable log lines go here (stderr in the trainer); the JSON log always goes to logs.jsonl.</summary>
    public TextWriter? Console { get; init; }

    public ITrainingProgress? Progress { get; init; }
}

/// <summary>
/// Runs one training job end to end: spec -> dataset download and checks -> objective -> artifact upload ->
/// result.json (written last, so its presence means the job is over). Relaunching a job resumes from its newest
/// checkpoint; relaunching a finished job returns its result without training again.
/// </summary>
public static class JobRunner
{
    public const string OutputsFolder = "outputs";

    public static async Task<JobResult> RunAsync(JobRunOptions options, CancellationToken ct)
    {
        var storage = options.Storage;
        Directory.CreateDirectory(options.WorkFolder);
        var spec = await LoadSpecAsync(options, ct).ConfigureAwait(false);
        var resultPath = BlobLayout.JobResult(spec.RunId, spec.JobId);

        if (await storage.ExistsAsync(resultPath, ct).ConfigureAwait(false))
        {
            var existingFile = Path.Combine(options.WorkFolder, "result.existing.json");
            await storage.DownloadAsync(resultPath, existingFile, ct).ConfigureAwait(false);
            var existing = JsonSerializer.Deserialize<JobResult>(await File.ReadAllTextAsync(existingFile, ct).ConfigureAwait(false), PipelineJson.Options);
            if (existing?.Status == JobResult.Statuses.Succeeded)
            {
                options.Console?.WriteLine($"Job {spec.RunId}/{spec.JobId} already succeeded; nothing to do.");
                return existing;
            }
        }

        var outputFolder = Path.Combine(options.WorkFolder, OutputsFolder);
        Directory.CreateDirectory(outputFolder);
        var logFile = Path.Combine(outputFolder, "logs.jsonl");
        using var log = new JobLog(logFile, options.Console);
        var jobPrefix = BlobLayout.RunJobPrefix(spec.RunId, spec.JobId);
        try
        {
            if (File.Exists(options.Spec) && !await storage.ExistsAsync(BlobLayout.JobSpec(spec.RunId, spec.JobId), ct).ConfigureAwait(false))
            {
                await storage.UploadAsync(options.Spec, BlobLayout.JobSpec(spec.RunId, spec.JobId), ct).ConfigureAwait(false);
            }

            log.Info("job started", new { spec.RunId, spec.JobId, spec.Objective, spec.DatasetManifest, spec.Optimization.Steps, spec.Threads, spec.Device });
            var trainer = ObjectiveTrainers.Create(spec.Objective);
            var datasetFolder = Path.Combine(options.WorkFolder, "dataset");
            var manifest = await DownloadDatasetAsync(storage, spec, datasetFolder, log, ct).ConfigureAwait(false);

            TrainingDevice.ApplyThreads(spec.Threads);
            NativeAllocator.ConfigureForTraining();
            var device = TrainingDevice.Select(spec.Device);
            var settings = JobSettings.From(spec.Settings);
            var checkpoints = CheckpointStore.ForJob(storage, spec.RunId, spec.JobId);
            var ctx = new TrainingContext
            {
                Spec = spec,
                Manifest = manifest,
                DatasetFolder = datasetFolder,
                Checkpoints = checkpoints,
                Storage = storage,
                OutputFolder = outputFolder,
                WorkFolder = Path.Combine(options.WorkFolder, "scratch"),
                Log = log,
                Progress = options.Progress ?? new CallbackProgress(),
                Device = device,
                Deadline = settings.MaxMinutes is { } minutes ? DateTimeOffset.UtcNow.AddMinutes(minutes) : null,
            };
            Directory.CreateDirectory(ctx.WorkFolder);
            log.Info("training", new { device = device.type.ToString(), threads = TorchSharp.torch.get_num_threads(), maxMinutes = settings.MaxMinutes });

            var outcome = await trainer.RunAsync(ctx, ct).ConfigureAwait(false);

            var artifacts = new Dictionary<string, string>(outcome.Artifacts);
            if (!artifacts.ContainsKey("loss-curve.png") && outcome.LossCurve.Count > 0)
            {
                var png = Path.Combine(outputFolder, "loss-curve.png");
                LossCurvePlot.Save(png, $"{spec.Objective} {spec.RunId}/{spec.JobId}", outcome.LossCurve, outcome.ValidationCurve);
                artifacts["loss-curve.png"] = png;
            }

            var uploaded = new Dictionary<string, string>();
            foreach (var (name, local) in artifacts)
            {
                var target = new BlobPath(BlobLayout.Runs, $"{jobPrefix}{OutputsFolder}/{Path.GetFileName(local)}");
                await storage.UploadAsync(local, target, ct).ConfigureAwait(false);
                uploaded[name] = target.ToString();
            }

            var completeSteps = await checkpoints.CompleteStepsAsync(ct).ConfigureAwait(false);
            if (completeSteps.Count > 0)
            {
                uploaded["checkpoint"] = checkpoints.PathOf(completeSteps[^1]).ToString();
            }

            log.Info("job succeeded", new { outcome.Steps, outcome.ValidationMetric, outcome.ValidationValue, outcome.StoppedByTimeLimit, outcome.Metrics });
            await UploadLogAsync(storage, logFile, jobPrefix, ct).ConfigureAwait(false);
            var result = new JobResult
            {
                RunId = spec.RunId,
                JobId = spec.JobId,
                Objective = spec.Objective,
                Status = JobResult.Statuses.Succeeded,
                Steps = (int)outcome.Steps,
                ValidationMetric = outcome.ValidationMetric,
                ValidationValue = outcome.ValidationValue,
                HigherIsBetter = outcome.HigherIsBetter,
                Metrics = outcome.Metrics,
                Artifacts = uploaded,
            };
            await WriteResultAsync(storage, options.WorkFolder, resultPath, result, ct).ConfigureAwait(false);
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A job that cannot succeed (bad spec, corrupt dataset, bug) says why; a killed job writes nothing and resumes.
            log.Error("job failed", new { error = e.GetType().Name, e.Message });
            await UploadLogAsync(storage, logFile, jobPrefix, CancellationToken.None).ConfigureAwait(false);
            var failed = new JobResult
            {
                RunId = spec.RunId,
                JobId = spec.JobId,
                Objective = spec.Objective,
                Status = JobResult.Statuses.Failed,
                Error = $"{e.GetType().Name}: {e.Message}",
            };
            await WriteResultAsync(storage, options.WorkFolder, resultPath, failed, CancellationToken.None).ConfigureAwait(false);
            return failed;
        }
    }

    /// <summary>Reads the spec from a local file or a blob, and checks the fields every objective needs.</summary>
    public static async Task<JobSpec> LoadSpecAsync(JobRunOptions options, CancellationToken ct)
    {
        string file;
        if (File.Exists(options.Spec))
        {
            file = options.Spec;
        }
        else
        {
            file = Path.Combine(options.WorkFolder, "spec.json");
            await options.Storage.DownloadAsync(BlobPath.Parse(options.Spec), file, ct).ConfigureAwait(false);
        }

        var spec = JsonSerializer.Deserialize<JobSpec>(await File.ReadAllTextAsync(file, ct).ConfigureAwait(false), PipelineJson.Options)
            ?? throw new InvalidDataException($"{options.Spec} holds no job spec.");
        if (!Objectives.All.Contains(spec.Objective, StringComparer.OrdinalIgnoreCase) && !ObjectiveTrainers.Names.Contains(spec.Objective, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"Spec objective '{spec.Objective}' is unknown; use one of {string.Join(", ", Objectives.All)}.");
        }

        if (spec.Optimization.Steps <= 0 || spec.Optimization.BatchSize <= 0 || spec.Optimization.GradientAccumulation <= 0)
        {
            throw new ArgumentException("Spec Optimization.Steps, BatchSize and GradientAccumulation must be positive.");
        }

        return spec;
    }

    /// <summary>Downloads manifest, vocab and shards to {folder}/{container}/{name}, checking each shard's sha256.</summary>
    public static async Task<DatasetManifest> DownloadDatasetAsync(IJobStorage storage, JobSpec spec, string folder, JobLog log, CancellationToken ct)
    {
        var manifestPath = BlobPath.Parse(spec.DatasetManifest);
        var manifestFile = TrainingContext.LocalFileOf(folder, manifestPath);
        await storage.DownloadAsync(manifestPath, manifestFile, ct).ConfigureAwait(false);
        var manifest = JsonSerializer.Deserialize<DatasetManifest>(await File.ReadAllTextAsync(manifestFile, ct).ConfigureAwait(false), PipelineJson.Options)
            ?? throw new InvalidDataException($"{manifestPath} holds no manifest.");
        if (manifest.Vocab is { Length: > 0 } vocab)
        {
            var vocabPath = BlobPath.Parse(vocab);
            await storage.DownloadAsync(vocabPath, TrainingContext.LocalFileOf(folder, vocabPath), ct).ConfigureAwait(false);
        }

        long bytes = 0;
        foreach (var shard in manifest.TrainShards.Concat(manifest.ValidationShards))
        {
            var path = BlobPath.Parse(shard.Path);
            var local = TrainingContext.LocalFileOf(folder, path);
            if (!File.Exists(local) || !string.Equals(await Sha256Async(local, ct).ConfigureAwait(false), shard.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                await storage.DownloadAsync(path, local, ct).ConfigureAwait(false);
            }

            if (!string.IsNullOrEmpty(shard.Sha256))
            {
                var sha = await Sha256Async(local, ct).ConfigureAwait(false);
                if (!string.Equals(sha, shard.Sha256, StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidDataException($"Shard {shard.Path} has sha256 {sha} but the manifest says {shard.Sha256}; the dataset version is corrupt, reseal it.");
                }
            }

            bytes += new FileInfo(local).Length;
        }

        log.Info("dataset ready", new { manifest.Dataset, manifest.Version, manifest.Kind, train = manifest.TrainShards.Count, validation = manifest.ValidationShards.Count, bytes });
        return manifest;
    }

    private static async Task WriteResultAsync(IJobStorage storage, string workFolder, BlobPath target, JobResult result, CancellationToken ct)
    {
        var file = Path.Combine(workFolder, "result.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(result, PipelineJson.Options), ct).ConfigureAwait(false);
        await storage.UploadAsync(file, target, ct).ConfigureAwait(false);
    }

    private static async Task UploadLogAsync(IJobStorage storage, string logFile, string jobPrefix, CancellationToken ct)
    {
        if (File.Exists(logFile))
        {
            // Copy first: the log stays open for appending while it uploads.
            var copy = logFile + ".upload";
            File.Copy(logFile, copy, overwrite: true);
            await storage.UploadAsync(copy, new BlobPath(BlobLayout.Runs, $"{jobPrefix}logs.jsonl"), ct).ConfigureAwait(false);
            File.Delete(copy);
        }
    }

    private static async Task<string> Sha256Async(string file, CancellationToken ct)
    {
        await using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
    }
}
