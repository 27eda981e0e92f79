using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Sealing;

/// <summary>
/// Decides and starts a dataset version's Pretrain run, whichever way sealing was asked for (marker blob, HTTP call,
/// or the N-new-documents policy). Versions are integers per dataset ("1", "2", ...); the Pretrain instance id is
/// "pretrain-{dataset}-{version}", so two requests racing for the same version start one run.
/// </summary>
public sealed class SealCoordinator(BlobServiceClient blobs, DurableTaskClient client, PipelineOptions options, ILogger<SealCoordinator> logger)
{
    /// <summary>Seals now: allocates the next version and starts Pretrain. Returns the instance id.</summary>
    public async Task<string> SealNowAsync(string dataset, PretrainInput? template, CancellationToken cancellationToken)
    {
        var version = (await LatestVersionAsync(dataset, cancellationToken).ConfigureAwait(false) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var input = (template ?? new PretrainInput { Dataset = dataset }) with { Dataset = dataset, Version = version };
        var instanceId = IngestInstanceIds.ForPretrain(dataset, version);
        await StartOnceAsync(client, TaskNames.Pretrain, input, instanceId, cancellationToken).ConfigureAwait(false);
        await RecordSealAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Sealing {Dataset} version {Version}: started {InstanceId}", dataset, version, instanceId);
        return instanceId;
    }

    /// <summary>The policy: seal once SealAfterDocuments uploads were accepted since the last seal. Null when not due.</summary>
    public async Task<string?> SealIfDueAsync(string dataset, CancellationToken cancellationToken)
    {
        if (options.SealAfterDocuments <= 0)
        {
            return null;
        }

        var accepted = await CountAcceptedAsync(dataset, cancellationToken).ConfigureAwait(false);
        var atLastSeal = await AcceptedAtLastSealAsync(dataset, cancellationToken).ConfigureAwait(false);
        return accepted - atLastSeal >= options.SealAfterDocuments ? await SealNowAsync(dataset, null, cancellationToken).ConfigureAwait(false) : null;
    }

    /// <summary>Starts an orchestration unless one with that id already exists (running or finished, but not failed).</summary>
    public static async Task<bool> StartOnceAsync(DurableTaskClient client, string name, object input, string instanceId, CancellationToken cancellationToken)
    {
        var existing = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: false, cancellationToken).ConfigureAwait(false);
        if (existing is not null && existing.RuntimeStatus is not (OrchestrationRuntimeStatus.Failed or OrchestrationRuntimeStatus.Terminated))
        {
            return false;
        }

        try
        {
            await client.ScheduleNewOrchestrationInstanceAsync(name, input, new StartOrchestrationOptions(instanceId), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException || e.GetType().Name.Contains("Rpc", StringComparison.Ordinal))
        {
            // Lost a race with an identical start: the other one runs.
            return false;
        }
    }

    private async Task<int> LatestVersionAsync(string dataset, CancellationToken cancellationToken)
    {
        var container = blobs.GetBlobContainerClient(BlobLayout.Datasets);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var latest = 0;
        await foreach (var item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{dataset}/", cancellationToken).ConfigureAwait(false))
        {
            if (item.IsPrefix && int.TryParse(item.Prefix[(dataset.Length + 1)..].TrimEnd('/'), out var v))
            {
                latest = Math.Max(latest, v);
            }
        }

        // Versions allocated but not sealed yet (a run in flight) count too.
        var seals = blobs.GetBlobContainerClient(BlobLayout.Datasets).GetBlobClient($"{dataset}/_seals/latest");
        try
        {
            var text = (await seals.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content.ToString().Split(' ');
            latest = Math.Max(latest, int.Parse(text[0], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
        }

        return latest;
    }

    private async Task RecordSealAsync(string dataset, string version, CancellationToken cancellationToken)
    {
        var accepted = await CountAcceptedAsync(dataset, cancellationToken).ConfigureAwait(false);
        var blob = blobs.GetBlobContainerClient(BlobLayout.Datasets).GetBlobClient($"{dataset}/_seals/latest");
        await blob.UploadAsync(BinaryData.FromString($"{version} {accepted}"), overwrite: true, cancellationToken).ConfigureAwait(false);
    }

    private async Task<long> AcceptedAtLastSealAsync(string dataset, CancellationToken cancellationToken)
    {
        var blob = blobs.GetBlobContainerClient(BlobLayout.Datasets).GetBlobClient($"{dataset}/_seals/latest");
        try
        {
            var parts = (await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content.ToString().Split(' ');
            return long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return 0;
        }
    }

    /// <summary>Accepted uploads = entries of the content index (datasets/{dataset}/index/{sha256}.json).</summary>
    private async Task<long> CountAcceptedAsync(string dataset, CancellationToken cancellationToken)
    {
        var container = blobs.GetBlobContainerClient(BlobLayout.Datasets);
        long n = 0;
        await foreach (var item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{dataset}/index/", cancellationToken).ConfigureAwait(false))
        {
            if (!item.IsPrefix && item.Blob.Name.EndsWith(".json", StringComparison.Ordinal))
            {
                n++;
            }
        }

        return n;
    }
}
