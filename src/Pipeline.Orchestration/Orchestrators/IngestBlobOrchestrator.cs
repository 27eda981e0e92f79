using Microsoft.DurableTask;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Sealing;

namespace Pipeline.Orchestration.Orchestrators;

/// <summary>
/// One upload under unlabeled/: a seal marker starts a Pretrain run; anything else is accepted, deduplicated or
/// quarantined by ingestion, and may trip the seal policy. The instance id is derived from the blob path and its
/// content (<see cref="IngestInstanceIds"/>), so a repeated event starts nothing new.
/// </summary>
[DurableTask(TaskNames.IngestBlob)]
public sealed class IngestBlobOrchestrator : TaskOrchestrator<IngestBlobInput, IngestBlobResult>
{
    private static readonly TaskOptions Retry = TaskOptions.FromRetryPolicy(new RetryPolicy(3, TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<IngestBlobResult> RunAsync(TaskOrchestrationContext context, IngestBlobInput input)
    {
        var (dataset, _) = SealMarker.Split(input.Upload);
        if (SealMarker.IsMarker(input.Upload))
        {
            var pretrain = await context.CallActivityAsync<string>(TaskNames.RequestSeal, new SealTrigger(dataset, input.Upload), Retry);
            return new IngestBlobResult(input.Upload, dataset, IngestBlobResult.Statuses.Sealed, PretrainInstanceId: pretrain);
        }

        var result = await context.CallActivityAsync<IngestBlobResult>(TaskNames.AcceptUpload, input, Retry);
        if (result.Status == IngestBlobResult.Statuses.Accepted)
        {
            // The policy (N new documents) is checked by an activity: it reads storage, which an orchestrator must not.
            var started = await context.CallActivityAsync<string?>(TaskNames.RequestSeal, new SealTrigger(dataset, null), Retry);
            return result with { PretrainInstanceId = started };
        }

        return result;
    }
}
