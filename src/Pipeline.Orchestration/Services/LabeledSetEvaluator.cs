using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Jobs;
using Pipeline.Core.Storage;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;
using Pipeline.Orchestration.Activities;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Services;

/// <summary>
/// Downstream evaluation when labels exist: labeled/{dataset}/ is probed with the trained and the random-init encoder
/// (and the raw-feature baseline) at several label budgets. Results go to runs/{runId}/{jobId}/evaluation/; with no
/// labelled set the step records that it was skipped and does not block publishing.
/// </summary>
public sealed class LabeledSetEvaluator(BlobServiceClient blobs, PipelineOptions options, ILogger<LabeledSetEvaluator> logger) : IModelEvaluator
{
    private static readonly string[] ModelFiles = ["encoder.onnx", "encoder-random.onnx", "vocab.txt", "config.json", "preprocessing.json"];

    public async Task<EvaluationSummary> EvaluateAsync(PublishInput job, CancellationToken cancellationToken)
    {
        var task = job.Dataset.Dataset;
        var labeled = blobs.GetBlobContainerClient(BlobLayout.Labeled);
        var any = false;
        await foreach (var _ in labeled.GetBlobsAsync(BlobTraits.None, BlobStates.None, $"{task}/", cancellationToken).ConfigureAwait(false))
        {
            any = true;
            break;
        }

        if (!any)
        {
            return new EvaluationSummary(Ran: false, Passed: true, Detail: $"no labelled set under {BlobLayout.Labeled}/{task}/; evaluation skipped");
        }

        var work = Path.Combine(Path.GetTempPath(), "pipeline-eval", $"{job.RunId}-{job.JobId}");
        try
        {
            var result = await BlobJson.ReadAsync<JobResult>(blobs, BlobPath.Parse(job.Result), cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"{job.Result} is missing.");
            var modelDir = Path.Combine(work, "model");
            Directory.CreateDirectory(modelDir);
            foreach (var file in ModelFiles.Where(result.Artifacts.ContainsKey))
            {
                var path = BlobPath.Parse(result.Artifacts[file]);
                await blobs.GetBlobContainerClient(path.Container).GetBlobClient(path.Name)
                    .DownloadToAsync(Path.Combine(modelDir, file), cancellationToken).ConfigureAwait(false);
            }

            var data = await LabeledDataLoader.DownloadAsync(blobs, task, Path.Combine(work, "labeled"), cancellationToken).ConfigureAwait(false);
            var evaluation = await Task.Run(() => new DataEfficiencyEvaluator(new DataEfficiencyOptions { Budgets = options.EvaluationBudgetsFor(job.Dataset.Kind), Draws = options.EvaluationDraws }).Evaluate(data, modelDir), cancellationToken)
                .ConfigureAwait(false);
            var outDir = Path.Combine(work, "out");
            Directory.CreateDirectory(outDir);
            var written = DataEfficiencyArtifacts.Write(evaluation, outDir);
            var prefix = $"{BlobLayout.RunJobPrefix(job.RunId, job.JobId)}evaluation/";
            var runs = blobs.GetBlobContainerClient(BlobLayout.Runs);
            foreach (var file in written.Values.Where(File.Exists))
            {
                await runs.GetBlobClient(prefix + Path.GetFileName(file)).UploadAsync(file, overwrite: true, cancellationToken).ConfigureAwait(false);
            }

            var node = new BlobPath(BlobLayout.Runs, prefix + "evaluation.json");
            await BlobJson.WriteAsync(blobs, node, DataEfficiencyArtifacts.EvaluationNode(evaluation.Report), cancellationToken).ConfigureAwait(false);
            return new EvaluationSummary(Ran: true, Passed: true, Detail: $"linear probe on {BlobLayout.Labeled}/{task}/", Metrics: node.ToString());
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException or InvalidOperationException)
        {
            logger.LogWarning(e, "Evaluation of {RunId}/{JobId} failed", job.RunId, job.JobId);
            return new EvaluationSummary(Ran: true, Passed: false, Detail: e.Message);
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
