using Microsoft.DurableTask;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Orchestrators;

/// <summary>
/// The best job of an objective becomes a registry version: ONNX parity gate -> downstream evaluation -> registry
/// write and latest.json swap. A failed gate publishes nothing and says why.
/// </summary>
[DurableTask(TaskNames.Publish)]
public sealed class PublishOrchestrator : TaskOrchestrator<PublishInput, PublishOutcome>
{
    private static readonly TaskOptions Retry = TaskOptions.FromRetryPolicy(new RetryPolicy(3, TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<PublishOutcome> RunAsync(TaskOrchestrationContext context, PublishInput input)
    {
        var parity = await context.CallActivityAsync<ParityGate>(TaskNames.CheckParity, input, Retry);
        if (!parity.Passed)
        {
            return new PublishOutcome(false, $"parity gate failed: {parity.Detail}", null, parity, null);
        }

        var evaluation = await context.CallActivityAsync<EvaluationSummary>(TaskNames.EvaluateModel, input, Retry);
        if (!evaluation.Passed)
        {
            return new PublishOutcome(false, $"evaluation failed: {evaluation.Detail}", null, parity, evaluation);
        }

        var model = await context.CallActivityAsync<PublishedModel>(TaskNames.PublishModel, new PublishModelRequest(input, parity, evaluation), Retry);
        return new PublishOutcome(true, $"published {model.Name} v{model.Version}", model, parity, evaluation);
    }
}
