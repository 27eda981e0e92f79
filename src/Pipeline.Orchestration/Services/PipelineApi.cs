using System.Text.Json;
using Azure.Storage.Blobs;
using Microsoft.DurableTask.Client;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Sealing;

namespace Pipeline.Orchestration.Services;

/// <summary>
/// What the HTTP endpoints and the blob trigger do, independent of ASP.NET and Functions: start ingestion for an
/// upload, seal a dataset / start a run, read a run's status. Both the Functions app and the local host call this.
/// </summary>
public sealed class PipelineApi(DurableTaskClient client, SealCoordinator seals, BlobServiceClient blobs)
{
    /// <summary>Starts IngestBlob for an upload unless the same upload (path + content) was already started.</summary>
    public async Task<string?> IngestAsync(BlobPath upload, string? contentIdentity, CancellationToken cancellationToken)
    {
        if (upload.Container != BlobLayout.Unlabeled)
        {
            return null;
        }

        if (contentIdentity is null)
        {
            var props = await blobs.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name)
                .GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            contentIdentity = ContentIdentity(props.Value.ContentHash, props.Value.ETag.ToString());
        }

        var instanceId = IngestInstanceIds.ForUpload(upload, contentIdentity);
        var started = await SealCoordinator.StartOnceAsync(client, TaskNames.IngestBlob, new IngestBlobInput(upload.ToString()), instanceId, cancellationToken)
            .ConfigureAwait(false);
        return started ? instanceId : null;
    }

    /// <summary>Seals the dataset's next version now and starts its Pretrain run (optionally with a sweep and model name).</summary>
    public Task<string> SealAsync(string dataset, PretrainInput? request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(dataset) || dataset.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{dataset}' is not a dataset name (the first folder under unlabeled/).");
        }

        return seals.SealNowAsync(dataset, request, cancellationToken);
    }

    /// <summary>The Durable check-status payload plus the run's progress; null when no such instance exists.</summary>
    public async Task<RunStatus?> StatusAsync(string instanceId, CancellationToken cancellationToken)
    {
        var meta = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false);
        return meta is null ? null : RunStatus.From(meta);
    }

    /// <summary>Waits until the instance finishes (or the token fires) and returns its status.</summary>
    public async Task<RunStatus> WaitAsync(string instanceId, CancellationToken cancellationToken)
    {
        var meta = await client.WaitForInstanceCompletionAsync(instanceId, getInputsAndOutputs: true, cancellationToken).ConfigureAwait(false);
        return RunStatus.From(meta);
    }

    /// <summary>Content-MD5 when the service computed one (same bytes, same id), else the ETag (same event, same id).</summary>
    public static string ContentIdentity(byte[]? contentMd5, string etag) =>
        contentMd5 is { Length: > 0 } md5 ? "md5:" + Convert.ToHexStringLower(md5) : "etag:" + etag.Trim('"');
}

/// <summary>A run's status as the HTTP endpoints and `pipeline status` show it (the Durable check-status shape).</summary>
public sealed record RunStatus(
    string Id, string Name, string RuntimeStatus, DateTimeOffset CreatedTime, DateTimeOffset LastUpdatedTime,
    JsonElement? CustomStatus, JsonElement? Output, string? Failure)
{
    public bool IsFinished => RuntimeStatus is "Completed" or "Failed" or "Terminated";

    public static RunStatus From(OrchestrationMetadata meta) => new(
        meta.InstanceId, meta.Name, meta.RuntimeStatus.ToString(), meta.CreatedAt, meta.LastUpdatedAt,
        Parse(meta.SerializedCustomStatus), Parse(meta.SerializedOutput),
        meta.FailureDetails is { } f ? $"{f.ErrorType}: {f.ErrorMessage}" : null);

    public T? ReadOutput<T>() => Output is { } o ? o.Deserialize<T>(Core.PipelineJson.Options) : default;

    public T? ReadCustomStatus<T>() => CustomStatus is { } o ? o.Deserialize<T>(Core.PipelineJson.Options) : default;

    private static JsonElement? Parse(string? json) =>
        string.IsNullOrEmpty(json) ? null : JsonDocument.Parse(json).RootElement.Clone();
}
