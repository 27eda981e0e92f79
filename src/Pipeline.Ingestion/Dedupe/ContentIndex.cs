using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core;
using Pipeline.Core.Storage;

namespace Pipeline.Ingestion.Dedupe;

/// <summary>
/// Exact dedupe across uploads by content hash: datasets/{dataset}/index/{sha256}.json is created with a conditional
/// write (If-None-Match: *), so of two uploads of the same bytes exactly one claims it, even when events race.
/// Later copies are recorded under datasets/{dataset}/index/{sha256}.duplicates/.
/// </summary>
public sealed class ContentIndex(BlobServiceClient service)
{
    public async Task<ContentClaim> TryClaimAsync(string dataset, string sha256, string source, CancellationToken cancellationToken = default)
    {
        var container = service.GetBlobContainerClient(BlobLayout.Datasets);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var blob = container.GetBlobClient(IndexName(dataset, sha256));
        var entry = new ContentIndexEntry(sha256, source, DateTimeOffset.UtcNow);
        try
        {
            await blob.UploadAsync(
                BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(entry, PipelineJson.Options)),
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
                cancellationToken).ConfigureAwait(false);
            return new ContentClaim(IsFirst: true, entry.FirstSource);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            var existing = (await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content
                .ToObjectFromJson<ContentIndexEntry>(PipelineJson.Options)!;
            if (existing.FirstSource == source)
            {
                // The same upload seen again (a repeated event): not a new duplicate.
                return new ContentClaim(IsFirst: false, existing.FirstSource, SameSource: true);
            }

            var duplicate = container.GetBlobClient($"{dataset}/index/{sha256}.duplicates/{Sanitize(source)}.json");
            await duplicate.UploadAsync(
                BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(new ContentIndexEntry(sha256, source, DateTimeOffset.UtcNow), PipelineJson.Options)),
                overwrite: true, cancellationToken).ConfigureAwait(false);
            return new ContentClaim(IsFirst: false, existing.FirstSource);
        }
    }

    public static string IndexName(string dataset, string sha256) => $"{dataset}/index/{sha256}.json";

    private static string Sanitize(string source) => source.Replace('/', '~');
}

/// <summary>Result of claiming a content hash: first time seen, or a duplicate of <paramref name="FirstSource"/>.</summary>
public sealed record ContentClaim(bool IsFirst, string FirstSource, bool SameSource = false);

public sealed record ContentIndexEntry(string Sha256, string FirstSource, DateTimeOffset FirstSeenUtc);
