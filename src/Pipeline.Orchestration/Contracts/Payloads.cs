using System.Text.Json;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;

namespace Pipeline.Orchestration.Contracts;

// Durable payloads: blob paths ("container/name") and small records only, never file contents.

/// <summary>Input of IngestBlob: one upload under unlabeled/{dataset}/.</summary>
public sealed record IngestBlobInput(string Upload);

/// <summary>What IngestBlob did with one upload.</summary>
public sealed record IngestBlobResult(
    string Upload, string Dataset, string Status, string? ContentHash = null, string? Reason = null, string? DuplicateOf = null,
    string? PretrainInstanceId = null)
{
    public static class Statuses
    {
        public const string Accepted = "accepted";
        public const string Duplicate = "duplicate";
        public const string Quarantined = "quarantined";
        public const string Sealed = "sealed";
        public const string Ignored = "ignored";
    }
}

/// <summary>One training job of a sweep: an objective and its configuration.</summary>
public sealed record TrainingConfig
{
    /// <summary>Short name, unique in the sweep ([a-z0-9-]); the job id is "{objective}-{name}".</summary>
    public required string Name { get; init; }

    public required string Objective { get; init; }

    public TextEncoderConfig? TextModel { get; init; }

    public OptimizationOptions Optimization { get; init; } = new();

    public JsonElement? Settings { get; init; }

    public int Threads { get; init; }

    public string Device { get; init; } = "auto";
}

/// <summary>Input of Pretrain: which dataset to seal and train, and (optionally) the sweep and model name.</summary>
public sealed record PretrainInput
{
    public required string Dataset { get; init; }

    /// <summary>The dataset version to seal; allocated by the seal request when absent.</summary>
    public string? Version { get; init; }

    /// <summary>Registry name of the published model; "{dataset}-{objective}" when absent.</summary>
    public string? ModelName { get; init; }

    /// <summary>Jobs to fan out; the configured default sweep for the dataset's kind when absent.</summary>
    public IReadOnlyList<TrainingConfig>? Sweep { get; init; }

    public bool Publish { get; init; } = true;
}

/// <summary>A sealed dataset version, as the orchestration needs it.</summary>
public sealed record SealedDataset(string Dataset, string Version, string Kind, string Manifest, long Items, long TrainItems, long ValidationItems);

/// <summary>Input of the SealDataset activity.</summary>
public sealed record SealRequest(string Dataset, string Version);

/// <summary>Input of PlanTrainingJobs.</summary>
public sealed record PlanRequest(string RunId, SealedDataset Dataset, IReadOnlyList<TrainingConfig>? Sweep);

/// <summary>One planned job: its id, the config it runs, and the spec the trainer reads.</summary>
public sealed record PlannedJob(string JobId, string ConfigName, string Objective);

/// <summary>Input of the TrainingJob sub-orchestration.</summary>
public sealed record TrainingJobInput
{
    public required string RunId { get; init; }

    public required string JobId { get; init; }

    public required string Objective { get; init; }

    /// <summary>runs/{runId}/{jobId}/spec.json, written before launch.</summary>
    public required string Spec { get; init; }

    public int MaxAttempts { get; init; } = 3;

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromHours(6);

    /// <summary>Carried across ContinueAsNew so a long job keeps its history short.</summary>
    public TrainingJobProgress? Progress { get; init; }
}

/// <summary>Where a running job stands: its handle, which attempt, since when, and when it must end.</summary>
public sealed record TrainingJobProgress(JobHandle Handle, int Attempt, DateTime DeadlineUtc, int Polls, IReadOnlyList<string> Failures);

/// <summary>A launched job, as its launcher identifies it (process id, ACA execution name).</summary>
public sealed record JobHandle(string Launcher, string Id, string RunId, string JobId, int Attempt);

/// <summary>Input of LaunchJob.</summary>
public sealed record LaunchRequest(string RunId, string JobId, string Spec, int Attempt);

/// <summary>What a poll found.</summary>
public sealed record JobPoll(string State, string? Detail = null, JobSummary? Result = null)
{
    public static class States
    {
        public const string Running = "running";
        public const string Succeeded = "succeeded";
        /// <summary>Finished with a failed result.json, or exited non-zero.</summary>
        public const string Failed = "failed";
        /// <summary>Gone without a result (killed, preempted, host restarted): relaunch, it resumes from its checkpoint.</summary>
        public const string Lost = "lost";
    }
}

/// <summary>The small part of result.json the orchestration decides on.</summary>
public sealed record JobSummary(
    string Status, int Steps, string? ValidationMetric, double? ValidationValue, bool HigherIsBetter,
    IReadOnlyDictionary<string, double> Metrics, IReadOnlyDictionary<string, string> Artifacts, string? Error);

/// <summary>How one TrainingJob ended.</summary>
public sealed record TrainingJobOutcome(
    string JobId, string Objective, string Status, int Attempts, string Result, JobSummary? Summary, IReadOnlyList<string> Failures)
{
    public bool Succeeded => Status == JobPoll.States.Succeeded && Summary is not null;
}

/// <summary>Input of the Publish sub-orchestration.</summary>
public sealed record PublishInput(string RunId, string JobId, string Objective, string ModelName, string Result, SealedDataset Dataset);

/// <summary>The parity gate's reading of parity.json.</summary>
public sealed record ParityGate(bool Passed, double? MaxAbsDiff, string Detail);

/// <summary>Downstream evaluation summary (metrics.json is the full record).</summary>
public sealed record EvaluationSummary(bool Ran, bool Passed, string Detail, string? Metrics = null, IReadOnlyDictionary<string, double>? Headline = null);

/// <summary>Input of PublishModel.</summary>
public sealed record PublishModelRequest(PublishInput Job, ParityGate Parity, EvaluationSummary Evaluation);

/// <summary>Where a model went.</summary>
public sealed record PublishedModel(string Name, string Version, string Prefix);

/// <summary>How Publish ended.</summary>
public sealed record PublishOutcome(bool Published, string Detail, PublishedModel? Model, ParityGate? Parity, EvaluationSummary? Evaluation);

/// <summary>How Pretrain ended.</summary>
public sealed record PretrainResult(
    string RunId, SealedDataset Dataset, IReadOnlyList<TrainingJobOutcome> Jobs, IReadOnlyDictionary<string, string> BestJobPerObjective,
    IReadOnlyList<PublishOutcome> Published);

/// <summary>Pretrain's custom status: the stage and what is known so far (read over HTTP and by `pipeline status`).</summary>
public sealed record RunProgress(string Stage, string? Dataset = null, string? Version = null, IReadOnlyList<JobProgress>? Jobs = null, string? Detail = null)
{
    public static class Stages
    {
        public const string Sealing = "sealing";
        public const string Training = "training";
        public const string Publishing = "publishing";
        public const string Completed = "completed";
        public const string Failed = "failed";
    }
}

/// <summary>One job's line in <see cref="RunProgress"/>.</summary>
public sealed record JobProgress(string JobId, string Status, double? ValidationValue = null);
