using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Jobs;
using Pipeline.Core.Registry;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Activities;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Services;

/// <summary>
/// Publishes a job's artifacts through <see cref="ModelRegistry"/>: the next integer version, model card, SHA256SUMS,
/// then latest.json (the registry re-checks parity and the evaluation before moving it). The run/job pair is the
/// idempotency key, so a retried activity lands in the same version.
/// </summary>
public sealed class RegistryPublisher(BlobServiceClient blobs, ILogger<RegistryPublisher> logger) : IModelPublisher
{
    private static readonly HashSet<string> EvaluationFiles =
        new(["metrics.json", "data-efficiency.md", "data-efficiency.png", "classifier.json"], StringComparer.Ordinal);

    public async Task<PublishedModel> PublishAsync(PublishModelRequest request, CancellationToken cancellationToken)
    {
        var job = request.Job;
        var result = await BlobJson.ReadAsync<JobResult>(blobs, BlobPath.Parse(job.Result), cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"{job.Result} is missing; nothing to publish.");
        // Files only: "checkpoint" names a folder of training state, which stays with the run.
        var artifacts = result.Artifacts
            .Where(a => a.Key.Contains('.', StringComparison.Ordinal))
            .ToDictionary(a => a.Key, a => ArtifactSource.FromBlob(a.Value), StringComparer.Ordinal);
        if (request.Evaluation is { Ran: true, Passed: true })
        {
            // The evaluator's files beside the job (metrics.json with the full report, data-efficiency.png/.md for the
            // model card, classifier.json = the probe served by /classify) travel with the version.
            var evaluationPrefix = $"{BlobLayout.RunJobPrefix(job.RunId, job.JobId)}evaluation/";
            await foreach (var blob in blobs.GetBlobContainerClient(BlobLayout.Runs).GetBlobsAsync(
                Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, evaluationPrefix, cancellationToken).ConfigureAwait(false))
            {
                var file = blob.Name[evaluationPrefix.Length..];
                if (EvaluationFiles.Contains(file))
                {
                    artifacts[file] = ArtifactSource.FromBlob(new BlobPath(BlobLayout.Runs, blob.Name));
                }
            }
        }

        JsonNode evaluation = request.Evaluation.Metrics is { } metricsPath
            && await BlobJson.ReadAsync<JsonNode>(blobs, BlobPath.Parse(metricsPath), cancellationToken).ConfigureAwait(false) is { } node
                ? node
                : new JsonObject { ["ran"] = request.Evaluation.Ran, ["detail"] = request.Evaluation.Detail };
        var published = await new ModelRegistry(blobs).PublishAsync(new PublishRequest
        {
            Name = job.ModelName,
            Artifacts = artifacts,
            Evaluation = evaluation,
            TrainingMetrics = result.Metrics,
            IdempotencyKey = $"{job.RunId}/{job.JobId}",
            Card = new ModelCardInfo
            {
                Objective = job.Objective,
                Modality = job.Dataset.Kind,
                DatasetManifest = job.Dataset.Manifest,
                RunId = job.RunId,
                JobId = job.JobId,
            },
        }, cancellationToken).ConfigureAwait(false);
        if (!published.Promoted)
        {
            logger.LogWarning("{Name} v{Version} stored but latest.json not moved: {Reason}", published.Name, published.Version, published.NotPromotedReason);
        }

        return new PublishedModel(published.Name, published.Version, $"{BlobLayout.Models}/{BlobLayout.ModelVersionPrefix(published.Name, published.Version)}",
            published.Promoted, published.NotPromotedReason);
    }
}
