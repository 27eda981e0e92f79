using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Microsoft.DurableTask;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Jobs;

namespace Pipeline.Orchestration.Activities;

/// <summary>Turns the sweep into jobs: one spec.json per objective x config under runs/{runId}/{jobId}/.</summary>
[DurableTask(TaskNames.PlanTrainingJobs)]
public sealed class PlanTrainingJobsActivity(BlobServiceClient blobs, PipelineOptions options) : TaskActivity<PlanRequest, IReadOnlyList<TrainingJobInput>>
{
    public override async Task<IReadOnlyList<TrainingJobInput>> RunAsync(TaskActivityContext context, PlanRequest input)
    {
        var manifest = await BlobJson.ReadAsync<DatasetManifest>(blobs, BlobPath.Parse(input.Dataset.Manifest)).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Manifest {input.Dataset.Manifest} is missing.");
        var sweep = input.Sweep ?? (manifest.Kind == "image" ? options.ImageSweep : options.TextSweep);
        if (sweep.Count == 0)
        {
            throw new ArgumentException("The sweep is empty: give at least one training config.");
        }

        var jobs = new List<TrainingJobInput>();
        foreach (var config in sweep)
        {
            var jobId = Orchestrators.ModelNames.Sanitize($"{config.Objective}-{config.Name}");
            if (jobs.Any(j => j.JobId == jobId))
            {
                throw new ArgumentException($"Two sweep entries map to job id '{jobId}': give each (objective, name) pair a unique name.");
            }

            var textModel = config.TextModel;
            if (manifest.Kind == "text")
            {
                // The vocabulary is the dataset version's: the model's embedding table must match it.
                textModel = (textModel ?? new TextEncoderConfig()) with { VocabSize = manifest.VocabSize ?? (textModel?.VocabSize ?? 0) };
            }

            var spec = new JobSpec
            {
                RunId = input.RunId,
                JobId = jobId,
                Objective = config.Objective,
                DatasetManifest = input.Dataset.Manifest,
                TextModel = textModel,
                Settings = config.Settings,
                Optimization = config.Optimization,
                Device = config.Device,
                Threads = config.Threads,
            };
            var specPath = BlobLayout.JobSpec(input.RunId, jobId);
            await BlobJson.WriteAsync(blobs, specPath, spec).ConfigureAwait(false);
            jobs.Add(new TrainingJobInput
            {
                RunId = input.RunId,
                JobId = jobId,
                Objective = config.Objective,
                Spec = specPath.ToString(),
                MaxAttempts = options.MaxJobAttempts,
                PollInterval = options.JobPollInterval,
                MaxPollInterval = options.JobMaxPollInterval,
                Timeout = options.JobTimeout,
            });
        }

        return jobs;
    }
}

/// <summary>Starts the trainer for a job (first launch or a relaunch that resumes from the checkpoint).</summary>
[DurableTask(TaskNames.LaunchJob)]
public sealed class LaunchJobActivity(IJobLauncher launcher) : TaskActivity<LaunchRequest, JobHandle>
{
    public override Task<JobHandle> RunAsync(TaskActivityContext context, LaunchRequest input) =>
        launcher.LaunchAsync(input, CancellationToken.None);
}

/// <summary>Reads result.json first (the job's own word), then asks the launcher whether the job still runs.</summary>
[DurableTask(TaskNames.PollJob)]
public sealed class PollJobActivity(BlobServiceClient blobs, IJobLauncher launcher) : TaskActivity<JobHandle, JobPoll>
{
    public override async Task<JobPoll> RunAsync(TaskActivityContext context, JobHandle input)
    {
        var result = await BlobJson.ReadAsync<JobResult>(blobs, BlobLayout.JobResult(input.RunId, input.JobId)).ConfigureAwait(false);
        if (result is not null)
        {
            var summary = new JobSummary(
                result.Status, result.Steps, result.ValidationMetric, result.ValidationValue, result.HigherIsBetter,
                result.Metrics, result.Artifacts, result.Error);
            return result.Status == JobResult.Statuses.Succeeded
                ? new JobPoll(JobPoll.States.Succeeded, Result: summary)
                : new JobPoll(JobPoll.States.Failed, result.Error ?? "result.json says failed", summary);
        }

        var state = await launcher.GetStateAsync(input, CancellationToken.None).ConfigureAwait(false);
        return state.Status switch
        {
            LaunchedJobStatus.Running => new JobPoll(JobPoll.States.Running, state.Detail),
            LaunchedJobStatus.Failed => new JobPoll(JobPoll.States.Failed, state.Detail ?? $"exit code {state.ExitCode}"),
            LaunchedJobStatus.Succeeded => new JobPoll(JobPoll.States.Lost, "the job ended without writing result.json"),
            _ => new JobPoll(JobPoll.States.Lost, state.Detail ?? "the launcher no longer knows the job"),
        };
    }
}

/// <summary>Stops a job (timeout).</summary>
[DurableTask(TaskNames.StopJob)]
public sealed class StopJobActivity(IJobLauncher launcher) : TaskActivity<JobHandle, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, JobHandle input)
    {
        await launcher.StopAsync(input, CancellationToken.None).ConfigureAwait(false);
        return true;
    }
}

/// <summary>Small JSON blob reads and writes with the pipeline's JSON settings.</summary>
public static class BlobJson
{
    public static async Task<T?> ReadAsync<T>(BlobServiceClient blobs, BlobPath path, CancellationToken cancellationToken = default)
    {
        var blob = blobs.GetBlobContainerClient(path.Container).GetBlobClient(path.Name);
        try
        {
            var content = await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToObjectFromJson<T>(PipelineJson.Options);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return default;
        }
    }

    public static async Task WriteAsync<T>(BlobServiceClient blobs, BlobPath path, T value, CancellationToken cancellationToken = default)
    {
        var container = blobs.GetBlobContainerClient(path.Container);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await container.GetBlobClient(path.Name).UploadAsync(
            BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(value, PipelineJson.Options)), overwrite: true, cancellationToken).ConfigureAwait(false);
    }
}
