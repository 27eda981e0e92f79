using Microsoft.DurableTask;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Sealing;

namespace Pipeline.Orchestration.Orchestrators;

/// <summary>
/// One upload under unlabeled/: a seal marker runs Pretrain on a new dataset version; anything else is accepted,
/// deduplicated or quarantined by ingestion, and may trip the seal policy. The instance id is derived from the blob
/// path and its content (<see cref="IngestInstanceIds"/>), so a repeated event starts nothing new.
/// </summary>
[DurableTask(TaskNames.IngestBlob)]
public sealed class IngestBlobOrchestrator : TaskOrchestrator<IngestBlobInput, IngestBlobResult>
{
    private static readonly TaskOptions Retry = TaskOptions.FromRetryPolicy(new RetryPolicy(3, TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<IngestBlobResult> RunAsync(TaskOrchestrationContext context, IngestBlobInput input)
    {
        var (dataset, _) = SealMarker.Split(input.Upload);
        IngestBlobResult result;
        SealAllocation? seal;
        if (SealMarker.IsMarker(input.Upload))
        {
            seal = await context.CallActivityAsync<SealAllocation?>(TaskNames.RequestSeal, new SealTrigger(dataset, input.Upload), Retry);
            result = new IngestBlobResult(input.Upload, dataset, IngestBlobResult.Statuses.Sealed);
        }
        else
        {
            result = await context.CallActivityAsync<IngestBlobResult>(TaskNames.AcceptUpload, input, Retry);
            // The policy (N new documents) is checked by an activity: it reads storage, which an orchestrator must not.
            seal = result.Status == IngestBlobResult.Statuses.Accepted
                ? await context.CallActivityAsync<SealAllocation?>(TaskNames.RequestSeal, new SealTrigger(dataset, null), Retry)
                : null;
        }

        if (seal is null)
        {
            return result;
        }

        // The run is a sub-orchestration with the version's instance id: its status is readable on its own.
        try
        {
            await context.CallSubOrchestratorAsync<PretrainResult>(
                TaskNames.Pretrain, new PretrainInput { Dataset = seal.Dataset, Version = seal.Version },
                new SubOrchestrationOptions { InstanceId = seal.InstanceId });
        }
        catch (TaskFailedException e)
        {
            return result with { PretrainInstanceId = seal.InstanceId, Reason = $"run failed: {e.Message}" };
        }

        return result with { PretrainInstanceId = seal.InstanceId };
    }
}
