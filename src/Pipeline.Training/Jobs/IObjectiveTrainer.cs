namespace Pipeline.Training.Jobs;

/// <summary>
/// One self-supervised objective (mlm, simclr, rotation). The job runner downloads the dataset, builds the
/// <see cref="TrainingContext"/>, calls <see cref="RunAsync"/>, uploads the outcome's artifacts and writes result.json.
/// An implementation trains for <c>Spec.Optimization.Steps</c> (or until <see cref="TrainingContext.DeadlineReached"/>),
/// checkpoints through <see cref="TrainingContext.Checkpoints"/>, resumes from the newest checkpoint when one exists,
/// and writes its artifacts (ONNX, config, plots) into <see cref="TrainingContext.OutputFolder"/>.
/// </summary>
public interface IObjectiveTrainer
{
    /// <summary>The objective name a job spec carries (see <c>Pipeline.Core.Jobs.Objectives</c>).</summary>
    string Objective { get; }

    Task<ObjectiveOutcome> RunAsync(TrainingContext ctx, CancellationToken ct);
}
