using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Services;

/// <summary>Per-upload and per-version ingestion, routed to the text or image library by the upload's extension.</summary>
public interface IUploadIngestion
{
    Task<IngestBlobResult> AcceptAsync(BlobPath upload, CancellationToken cancellationToken);

    Task<SealedDataset> SealAsync(string dataset, string version, CancellationToken cancellationToken);
}

/// <summary>Writes a trained job's artifacts into the model registry and swaps latest.json.</summary>
public interface IModelPublisher
{
    Task<PublishedModel> PublishAsync(PublishModelRequest request, CancellationToken cancellationToken);
}

/// <summary>Downstream evaluation of a trained encoder (few-label linear probe vs baselines).</summary>
public interface IModelEvaluator
{
    Task<EvaluationSummary> EvaluateAsync(PublishInput job, CancellationToken cancellationToken);
}

/// <summary>An evaluator for deployments with no labelled data: it records that evaluation was skipped and why.</summary>
public sealed class NoEvaluation : IModelEvaluator
{
    public Task<EvaluationSummary> EvaluateAsync(PublishInput job, CancellationToken cancellationToken) =>
        Task.FromResult(new EvaluationSummary(Ran: false, Passed: true, Detail: "no evaluator configured"));
}
