using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Sealing;

/// <summary>A dataset version allocated for sealing, and the id its Pretrain run gets.</summary>
public sealed record SealAllocation(string Dataset, string Version, string InstanceId);

/// <summary>
/// Allocates dataset versions for sealing, whichever way sealing was asked for (marker blob, HTTP call, or the
/// N-new-documents policy). Versions are integers per dataset ("1", "2", ...) recorded in datasets/{dataset}/_seals/latest
/// with an ETag-conditional write, so two requests racing never get the same version and the policy fires once.
/// The Pretrain instance id is "pretrain-{dataset}-{version}".
/// </summary>
public sealed class SealCoordinator(BlobServiceClient blobs, PipelineOptions options, ILogger<SealCoordinator> logger)
{
    /// <summary>Allocates the next version now.</summary>
    public Task<SealAllocation> AllocateAsync(string dataset, CancellationToken cancellationToken) =>
        AllocateAsync(dataset, policyOnly: false, cancellationToken)!;

    /// <summary>The policy: allocates a version once SealAfterDocuments uploads were accepted since the last seal; else null.</summary>
    public Task<SealAllocation?> AllocateIfDueAsync(string dataset, CancellationToken cancellationToken) =>
        options.SealAfterDocuments <= 0 ? Task.FromResult<SealAllocation?>(null) : AllocateAsync(dataset, policyOnly: true, cancellationToken);

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

    private async Task<SealAllocation?> AllocateAsync(string dataset, bool policyOnly, CancellationToken cancellationToken)
    {
        var container = blobs.GetBlobContainerClient(BlobLayout.Datasets);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var record = container.GetBlobClient($"{dataset}/_seals/latest");
        for (var attempt = 0; attempt < 20; attempt++)
        {
            int last = 0;
            long acceptedAtLast = 0;
            ETag? etag = null;
            try
            {
                var content = (await record.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value;
                var parts = content.Content.ToString().Split(' ');
                last = int.Parse(parts[0], CultureInfo.InvariantCulture);
                acceptedAtLast = long.Parse(parts[1], CultureInfo.InvariantCulture);
                etag = content.Details.ETag;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
            }

            var accepted = await CountAcceptedAsync(dataset, cancellationToken).ConfigureAwait(false);
            if (policyOnly && accepted - acceptedAtLast < options.SealAfterDocuments)
            {
                return null;
            }

            var version = Math.Max(last, await LatestSealedVersionAsync(dataset, cancellationToken).ConfigureAwait(false)) + 1;
            var conditions = etag is { } e2 ? new BlobRequestConditions { IfMatch = e2 } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            try
            {
                await record.UploadAsync(
                    BinaryData.FromString($"{version.ToString(CultureInfo.InvariantCulture)} {accepted.ToString(CultureInfo.InvariantCulture)}"),
                    new BlobUploadOptions { Conditions = conditions }, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                continue; // Someone else allocated meanwhile: read again.
            }

            var v = version.ToString(CultureInfo.InvariantCulture);
            logger.LogInformation("Sealing {Dataset} version {Version} ({Accepted} accepted uploads)", dataset, v, accepted);
            return new SealAllocation(dataset, v, IngestInstanceIds.ForPretrain(dataset, v));
        }

        throw new InvalidOperationException($"Could not allocate a version of {dataset}: too many concurrent seal requests.");
    }

    private async Task<int> LatestSealedVersionAsync(string dataset, CancellationToken cancellationToken)
    {
        var container = blobs.GetBlobContainerClient(BlobLayout.Datasets);
        var latest = 0;
        await foreach (var item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{dataset}/", cancellationToken).ConfigureAwait(false))
        {
            if (item.IsPrefix && int.TryParse(item.Prefix[(dataset.Length + 1)..].TrimEnd('/'), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                latest = Math.Max(latest, v);
            }
        }

        return latest;
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
