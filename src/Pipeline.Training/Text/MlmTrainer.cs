using Pipeline.Core.Jobs;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Text;

/// <summary>Masked-language-model pretraining of the text encoder (BERT objective).</summary>
public sealed class MlmTrainer : IObjectiveTrainer
{
    public string Objective => Objectives.Mlm;

    public Task<ObjectiveOutcome> RunAsync(TrainingContext ctx, CancellationToken ct) =>
        throw new NotImplementedException("MLM training lands in the next commit.");
}
