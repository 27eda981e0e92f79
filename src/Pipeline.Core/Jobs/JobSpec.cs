using System.Text.Json;
using Pipeline.Core.Models;

namespace Pipeline.Core.Jobs;

/// <summary>
/// spec.json of one training job (runs/{runId}/{jobId}/spec.json): everything the trainer needs, by value or blob path.
/// The orchestration writes it; the trainer (child process or GPU container) reads it from a file or a blob.
/// </summary>
public sealed record JobSpec
{
    public required string RunId { get; init; }

    public required string JobId { get; init; }

    /// <summary>One of <see cref="Objectives"/>.</summary>
    public required string Objective { get; init; }

    /// <summary>The dataset version's manifest.json blob path (container/name).</summary>
    public required string DatasetManifest { get; init; }

    /// <summary>Text objectives: the encoder architecture.</summary>
    public TextEncoderConfig? TextModel { get; init; }

    /// <summary>Objective- and architecture-specific settings (image encoder, masking, augmentation, ...), owned by the trainer.</summary>
    public JsonElement? Settings { get; init; }

    public required OptimizationOptions Optimization { get; init; }

    /// <summary>After training, export ONNX and run the parity check inside the job (libtorch stays in the job).</summary>
    public bool Export { get; init; } = true;

    /// <summary>"auto" (CUDA when present), "cpu" or "cuda".</summary>
    public string Device { get; init; } = "auto";

    /// <summary>Intra-op threads for libtorch; 0 leaves libtorch's default.</summary>
    public int Threads { get; init; }

    public string Prefix => $"{RunId}/{JobId}/";
}

/// <summary>The objective names a job spec may carry.</summary>
public static class Objectives
{
    public const string Mlm = "mlm";
    public const string SimClr = "simclr";
    public const string Rotation = "rotation";

    public static IReadOnlyList<string> All { get; } = [Mlm, SimClr, Rotation];
}

/// <summary>Optimiser, schedule, batching and checkpoint cadence, shared by every objective.</summary>
public sealed record OptimizationOptions
{
    public int Steps { get; init; } = 1000;

    public int BatchSize { get; init; } = 32;

    public int GradientAccumulation { get; init; } = 1;

    public double LearningRate { get; init; } = 5e-4;

    public double WeightDecay { get; init; } = 0.01;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.999;

    public double Epsilon { get; init; } = 1e-8;

    public int WarmupSteps { get; init; } = 100;

    /// <summary>"cosine" or "linear" decay after warmup.</summary>
    public string Schedule { get; init; } = "cosine";

    public double GradientClip { get; init; } = 1.0;

    public long Seed { get; init; } = 42;

    public int CheckpointEvery { get; init; } = 200;

    public int EvalEvery { get; init; } = 200;

    public int LogEvery { get; init; } = 10;
}

/// <summary>result.json of a finished job: metrics and the blob paths of what it produced.</summary>
public sealed record JobResult
{
    public required string RunId { get; init; }

    public required string JobId { get; init; }

    public required string Objective { get; init; }

    /// <summary>"succeeded" or "failed".</summary>
    public required string Status { get; init; }

    public string? Error { get; init; }

    public int Steps { get; init; }

    /// <summary>The metric the orchestration uses to pick the best job of an objective (lower is better unless stated).</summary>
    public string? ValidationMetric { get; init; }

    public double? ValidationValue { get; init; }

    public bool HigherIsBetter { get; init; }

    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Artifact name (encoder.onnx, mlm.onnx, loss-curve.png, parity.json, checkpoint, config.json) to blob path.</summary>
    public IReadOnlyDictionary<string, string> Artifacts { get; init; } = new Dictionary<string, string>();

    public static class Statuses
    {
        public const string Succeeded = "succeeded";
        public const string Failed = "failed";
    }
}
