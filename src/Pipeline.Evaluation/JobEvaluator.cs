using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Pipeline.Core.Storage;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;

namespace Pipeline.Evaluation;

/// <summary>What to evaluate: a finished training job's artifacts (result.json Artifacts: file name to container/name).</summary>
public sealed record JobEvaluationRequest
{
    public required string RunId { get; init; }

    public required string JobId { get; init; }

    public required IReadOnlyDictionary<string, string> Artifacts { get; init; }

    /// <summary>Candidate labelled tasks (labeled/{task}/), first present wins: e.g. the dataset's name, then a default.</summary>
    public required IReadOnlyList<string> Tasks { get; init; }
}

/// <summary>
/// The evaluation's outcome for the publish step. <see cref="Ran"/> is false (with the reason) when no labelled task
/// exists; <see cref="Files"/> maps metrics.json, data-efficiency.png, data-efficiency.md and classifier.json to the
/// blobs written under runs/{runId}/{jobId}/evaluation/; <see cref="Evaluation"/> is PublishRequest.Evaluation.
/// </summary>
public sealed record JobEvaluationResult(
    bool Ran,
    string Detail,
    string? Task,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, string> Files,
    JsonObject? Evaluation,
    string? Markdown);

/// <summary>
/// Runs <see cref="DataEfficiencyEvaluator"/> for a training job in storage: downloads the job's encoder files and the
/// labelled task, evaluates with ONNX Runtime, uploads the report beside the job. No TorchSharp, no Durable: the
/// orchestration's EvaluateModel activity (or a job, for large sets) calls it.
/// </summary>
public sealed class JobEvaluator(BlobServiceClient service, DataEfficiencyOptions options, string? workDirectory = null)
{
    private static readonly string[] ModelFiles =
        [DataEfficiencyEvaluator.EncoderFile, DataEfficiencyEvaluator.RandomEncoderFile, "vocab.txt", "config.json", "preprocessing.json"];

    public async Task<JobEvaluationResult> EvaluateAsync(JobEvaluationRequest request, IProgress<string>? progress, CancellationToken ct)
    {
        if (!request.Artifacts.ContainsKey(DataEfficiencyEvaluator.EncoderFile))
        {
            return new JobEvaluationResult(false, $"job {request.JobId} produced no {DataEfficiencyEvaluator.EncoderFile}", null, new Dictionary<string, double>(), new Dictionary<string, string>(), null, null);
        }

        var labeled = service.GetBlobContainerClient(BlobLayout.Labeled);
        string? task = null;
        foreach (var candidate in request.Tasks.Where(t => !string.IsNullOrWhiteSpace(t)))
        {
            await foreach (var _ in labeled.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, $"{candidate.Trim('/')}/", ct).ConfigureAwait(false))
            {
                task = candidate.Trim('/');
                break;
            }

            if (task is not null)
            {
                break;
            }
        }

        if (task is null)
        {
            return new JobEvaluationResult(false, $"no labelled data under {BlobLayout.Labeled}/ for {string.Join(" or ", request.Tasks)}", null, new Dictionary<string, double>(), new Dictionary<string, string>(), null, null);
        }

        var work = Path.Combine(workDirectory ?? Path.GetTempPath(), $"pipeline-eval-{request.RunId}-{request.JobId}-{Guid.NewGuid():N}");
        try
        {
            var modelDir = Path.Combine(work, "model");
            Directory.CreateDirectory(modelDir);
            foreach (var file in ModelFiles)
            {
                if (request.Artifacts.TryGetValue(file, out var blob))
                {
                    var path = BlobPath.Parse(blob);
                    await service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name).DownloadToAsync(Path.Combine(modelDir, file), ct).ConfigureAwait(false);
                }
            }

            var data = await LabeledDataLoader.DownloadAsync(service, task, Path.Combine(work, "labeled"), ct).ConfigureAwait(false);
            var result = await Task.Run(() => new DataEfficiencyEvaluator(options).Evaluate(data, modelDir, progress), ct).ConfigureAwait(false);
            var local = DataEfficiencyArtifacts.Write(result, Path.Combine(work, "out"));
            var runs = service.GetBlobContainerClient(BlobLayout.Runs);
            var files = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, path) in local)
            {
                var blobName = $"{BlobLayout.RunJobPrefix(request.RunId, request.JobId)}evaluation/{name}";
                await runs.GetBlobClient(blobName).UploadAsync(path, overwrite: true, ct).ConfigureAwait(false);
                files[name] = new BlobPath(BlobLayout.Runs, blobName).ToString();
            }

            var headline = result.Report.FlatMetrics().Where(kv => !kv.Key.EndsWith("_std", StringComparison.Ordinal))
                .Select(kv => $"{kv.Key}={kv.Value:0.000}");
            return new JobEvaluationResult(true, $"{task}: {string.Join(", ", headline)}", task, result.Report.FlatMetrics(), files,
                DataEfficiencyArtifacts.EvaluationNode(result.Report), result.Report.ToMarkdown());
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }
}
