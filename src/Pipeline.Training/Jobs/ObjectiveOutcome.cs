namespace Pipeline.Training.Jobs;

/// <summary>What an objective hands back: metrics, the validation metric used to pick the best job, and local artifact files.</summary>
public sealed record ObjectiveOutcome
{
    /// <summary>Optimizer steps completed (less than the spec's when the wall-clock limit stopped training).</summary>
    public required long Steps { get; init; }

    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>The metric the orchestration compares across jobs of one objective, e.g. "val_loss".</summary>
    public string? ValidationMetric { get; init; }

    public double? ValidationValue { get; init; }

    public bool HigherIsBetter { get; init; }

    /// <summary>Artifact name (result.json key, e.g. "encoder.onnx") to a local file the runner uploads.</summary>
    public IReadOnlyDictionary<string, string> Artifacts { get; init; } = new Dictionary<string, string>();

    /// <summary>Training loss per logged step (the runner draws loss-curve.png from it when the objective did not).</summary>
    public IReadOnlyList<LossPoint> LossCurve { get; init; } = [];

    /// <summary>Validation loss per evaluation (drawn on the same plot).</summary>
    public IReadOnlyList<LossPoint> ValidationCurve { get; init; } = [];

    /// <summary>True when the wall-clock limit (Settings.maxMinutes) ended training before the step budget.</summary>
    public bool StoppedByTimeLimit { get; init; }
}

/// <summary>One point of a loss curve.</summary>
public readonly record struct LossPoint(long Step, double Loss);
