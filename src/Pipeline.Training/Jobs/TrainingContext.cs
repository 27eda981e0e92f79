using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Storage;
using Pipeline.Training.Checkpoints;
using static TorchSharp.torch;

namespace Pipeline.Training.Jobs;

/// <summary>
/// Everything an <see cref="IObjectiveTrainer"/> gets from the job runner: the spec, the dataset (already downloaded
/// and checked), checkpoints, seeded randomness, logging/progress, the device and the folder for its artifacts.
/// </summary>
public sealed class TrainingContext
{
    public required JobSpec Spec { get; init; }

    public required DatasetManifest Manifest { get; init; }

    /// <summary>Local copies of the dataset's blobs, at {DatasetFolder}/{container}/{name} (see <see cref="LocalFile"/>).</summary>
    public required string DatasetFolder { get; init; }

    public required ICheckpointStore Checkpoints { get; init; }

    /// <summary>The job's blob storage, for inputs beyond the dataset (e.g. a labelled monitoring set); null in tests that run an objective alone.</summary>
    public IJobStorage? Storage { get; init; }

    /// <summary>Where the objective writes its artifacts; the runner uploads the files the outcome names.</summary>
    public required string OutputFolder { get; init; }

    /// <summary>Scratch space (checkpoint staging); not uploaded.</summary>
    public required string WorkFolder { get; init; }

    public required JobLog Log { get; init; }

    public ITrainingProgress Progress { get; init; } = new CallbackProgress();

    /// <summary>CUDA when the spec allows it and libtorch sees a GPU, else CPU (same code path).</summary>
    public required Device Device { get; init; }

    /// <summary>When the wall-clock limit (Settings.maxMinutes) runs out; null for no limit.</summary>
    public DateTimeOffset? Deadline { get; init; }

    public bool DeadlineReached => Deadline is { } d && DateTimeOffset.UtcNow >= d;

    /// <summary>A seeded generator for one purpose, derived from Optimization.Seed (save its State in checkpoints).</summary>
    public JobRandom CreateRandom(string stream) => JobRandom.Create(Spec.Optimization.Seed, stream);

    /// <summary>The local copy of a dataset blob given as "container/name" (shard paths, the vocab path).</summary>
    public string LocalFile(string blobPath) => LocalFileOf(DatasetFolder, BlobPath.Parse(blobPath));

    /// <summary>Deserialises the spec's Settings object (camelCase JSON) into the objective's options record.</summary>
    public T Settings<T>() where T : new() =>
        Spec.Settings is { ValueKind: JsonValueKind.Object } s ? s.Deserialize<T>(PipelineJson.Options) ?? new T() : new T();

    internal static string LocalFileOf(string datasetFolder, BlobPath path) =>
        Path.Combine(datasetFolder, path.Container, path.Name.Replace('/', Path.DirectorySeparatorChar));
}
