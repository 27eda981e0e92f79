using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core;
using Pipeline.Core.Storage;

namespace Pipeline.Ingestion.Quarantine;

/// <summary>
/// Moves a rejected upload to quarantine/{dataset}/{blob} with {blob}.reason.json beside it. The bytes are copied and
/// verified before the original is removed, so nothing is ever lost; the rest of the dataset goes on.
/// </summary>
public sealed class QuarantineStore(BlobServiceClient service)
{
    public async Task<QuarantineRecord> QuarantineAsync(
        BlobPath upload, string dataset, string relativeName, QuarantineReason reason, string? sha256 = null,
        CancellationToken cancellationToken = default)
    {
        var source = service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name);
        var target = BlobLayout.QuarantinedBlob(dataset, relativeName);
        var reasonPath = BlobLayout.QuarantineReason(dataset, relativeName);
        var container = service.GetBlobContainerClient(BlobLayout.Quarantine);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var targetBlob = container.GetBlobClient(target.Name);

        long length = 0;
        var sourceExists = await source.ExistsAsync(cancellationToken).ConfigureAwait(false);
        if (sourceExists.Value)
        {
            // Streamed copy: works the same on Azurite and Azure, and never holds the blob in memory.
            await using (var read = await source.OpenReadAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                await targetBlob.UploadAsync(read, overwrite: true, cancellationToken).ConfigureAwait(false);
            }

            var sourceProps = await source.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            var targetProps = await targetBlob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            length = sourceProps.Value.ContentLength;
            if (targetProps.Value.ContentLength != length)
            {
                throw new IOException($"Quarantine copy of {upload} is {targetProps.Value.ContentLength} bytes, the original {length}; the original is kept.");
            }
        }

        var record = new QuarantineRecord(
            Source: upload.ToString(), QuarantinedAs: target.ToString(), Code: reason.Code, Message: reason.Message,
            Details: reason.Details ?? new Dictionary<string, string>(), Bytes: length, Sha256: sha256, QuarantinedUtc: DateTimeOffset.UtcNow);
        var json = JsonSerializer.SerializeToUtf8Bytes(record, PipelineJson.Options);
        await container.GetBlobClient(reasonPath.Name).UploadAsync(
            BinaryData.FromBytes(json), new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } },
            cancellationToken).ConfigureAwait(false);

        if (sourceExists.Value)
        {
            try
            {
                await source.DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException)
            {
                // The copy and its reason are safe; a leftover original is re-detected as already quarantined.
            }
        }

        return record;
    }

    public async Task<QuarantineRecord?> ReadReasonAsync(string dataset, string relativeName, CancellationToken cancellationToken = default)
    {
        var path = BlobLayout.QuarantineReason(dataset, relativeName);
        var blob = service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name);
        try
        {
            var content = await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToObjectFromJson<QuarantineRecord>(PipelineJson.Options);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }
}

/// <summary>{blob}.reason.json: where the upload came from, where it went, and why.</summary>
public sealed record QuarantineRecord(
    string Source, string QuarantinedAs, string Code, string Message, IReadOnlyDictionary<string, string> Details,
    long Bytes, string? Sha256, DateTimeOffset QuarantinedUtc);
