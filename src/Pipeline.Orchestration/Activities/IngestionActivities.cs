using Microsoft.DurableTask;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;

namespace Pipeline.Orchestration.Activities;

/// <summary>Accepts, deduplicates or quarantines one upload (the ingestion library decides).</summary>
[DurableTask(TaskNames.AcceptUpload)]
public sealed class AcceptUploadActivity(IUploadIngestion ingestion) : TaskActivity<IngestBlobInput, IngestBlobResult>
{
    public override Task<IngestBlobResult> RunAsync(TaskActivityContext context, IngestBlobInput input) =>
        ingestion.AcceptAsync(BlobPath.Parse(input.Upload), CancellationToken.None);
}

/// <summary>A marker seals now; an accepted upload seals when the policy is due. Returns the Pretrain instance id or null.</summary>
[DurableTask(TaskNames.RequestSeal)]
public sealed class RequestSealActivity(SealCoordinator seals) : TaskActivity<SealTrigger, string?>
{
    public override async Task<string?> RunAsync(TaskActivityContext context, SealTrigger input) =>
        input.Marker is not null
            ? await seals.SealNowAsync(input.Dataset, null, CancellationToken.None).ConfigureAwait(false)
            : await seals.SealIfDueAsync(input.Dataset, CancellationToken.None).ConfigureAwait(false);
}

/// <summary>Writes datasets/{dataset}/{version}/ (vocab, shards, manifest) from everything accepted so far.</summary>
[DurableTask(TaskNames.SealDataset)]
public sealed class SealDatasetActivity(IUploadIngestion ingestion) : TaskActivity<SealRequest, SealedDataset>
{
    public override Task<SealedDataset> RunAsync(TaskActivityContext context, SealRequest input) =>
        ingestion.SealAsync(input.Dataset, input.Version, CancellationToken.None);
}
