namespace Pipeline.Training.Text;

/// <summary>MLM settings from the job spec's Settings object (camelCase JSON); every field has a default.</summary>
public sealed record MlmSettings
{
    /// <summary>Tokens per training sequence including [CLS]/[SEP] (capped at the model's MaxPositions).</summary>
    public int SequenceLength { get; init; } = 128;

    public MaskingOptions Masking { get; init; } = new();

    /// <summary>Validation batches per evaluation (the validation split is read in file order up to this many).</summary>
    public int ValidationBatches { get; init; } = 50;

    /// <summary>
    /// With a wall-clock limit (Settings.maxMinutes), the learning-rate decay follows whichever runs out first, the
    /// steps or the time, so a run stopped by the clock still ends at the bottom of its schedule (budgeted training;
    /// set Optimization.Steps high and let the budget govern).
    /// </summary>
    public bool ScheduleByTime { get; init; } = true;
}
