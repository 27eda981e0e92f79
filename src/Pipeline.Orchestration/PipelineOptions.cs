using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration;

/// <summary>Orchestration settings (configuration section "Pipeline"): launcher, sweep defaults, retries, sealing.</summary>
public sealed record PipelineOptions
{
    public const string Section = "Pipeline";

    /// <summary>"LocalProcess" (default) or "ContainerAppsJob".</summary>
    public string Launcher { get; init; } = "LocalProcess";

    /// <summary>Attempts per training job (the first launch included) before it counts as failed.</summary>
    public int MaxJobAttempts { get; init; } = 3;

    public TimeSpan JobPollInterval { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan JobMaxPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan JobTimeout { get; init; } = TimeSpan.FromHours(6);

    /// <summary>Seal a dataset automatically once this many new uploads were accepted since its last version (0 = off).</summary>
    public int SealAfterDocuments { get; init; }

    /// <summary>How text versions are sealed (vocabulary size, validation split); the library's defaults when null.</summary>
    public Ingestion.Text.TextSealOptions? TextSeal { get; init; }

    /// <summary>The default text sweep (one MLM job) when a Pretrain request names none.</summary>
    public IReadOnlyList<TrainingConfig> TextSweep { get; init; } =
    [
        new TrainingConfig
        {
            Name = "base",
            Objective = Objectives.Mlm,
            TextModel = new TextEncoderConfig(),
            Optimization = new OptimizationOptions(),
        },
    ];

    /// <summary>Label budgets of the downstream evaluation on labeled/{dataset}/ ("1%", "10%", "all", "50/class").</summary>
    public IReadOnlyList<string> EvaluationBudgets { get; init; } = ["1%", "10%"];

    /// <summary>
    /// Label budgets for image datasets; null: <see cref="EvaluationBudgets"/>. Image pools are larger and a pixel probe
    /// has hundreds of inputs, so a whole-pool budget that is cheap for a small text set can cost minutes there.
    /// </summary>
    public IReadOnlyList<string>? ImageEvaluationBudgets { get; init; }

    /// <summary>The label budgets for a dataset of this kind ("text" or "image").</summary>
    public IReadOnlyList<string> EvaluationBudgetsFor(string kind) =>
        kind == "image" && ImageEvaluationBudgets is { Count: > 0 } image ? image : EvaluationBudgets;

    /// <summary>Seeded label draws per budget in the downstream evaluation.</summary>
    public int EvaluationDraws { get; init; } = 3;

    /// <summary>The default image sweep (SimCLR and rotation) when a Pretrain request names none.</summary>
    public IReadOnlyList<TrainingConfig> ImageSweep { get; init; } =
    [
        new TrainingConfig { Name = "base", Objective = Objectives.SimClr },
        new TrainingConfig { Name = "base", Objective = Objectives.Rotation },
    ];

    public void Validate()
    {
        if (MaxJobAttempts < 1)
        {
            throw new ArgumentException($"Pipeline:MaxJobAttempts must be >= 1 (was {MaxJobAttempts}).");
        }

        if (JobPollInterval <= TimeSpan.Zero || JobMaxPollInterval < JobPollInterval || JobTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Pipeline:JobPollInterval must be > 0, JobMaxPollInterval >= JobPollInterval, JobTimeout > 0.");
        }
    }
}
