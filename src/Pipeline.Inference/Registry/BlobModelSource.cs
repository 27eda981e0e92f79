using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core.Storage;

namespace Pipeline.Inference.Registry;

/// <summary>Reads the registry straight from the models container (Azure Blob Storage or Azurite).</summary>
public sealed class BlobModelSource(BlobServiceClient service) : IModelSource
{
    private readonly BlobContainerClient _models = service.GetBlobContainerClient(BlobLayout.Models);

    public async Task<LatestLookup> GetLatestAsync(string name, string? knownETag, CancellationToken ct)
    {
        var blob = _models.GetBlobClient(BlobLayout.LatestAlias(name).Name);
        var options = new BlobDownloadOptions();
        if (knownETag is not null)
        {
            options.Conditions = new BlobRequestConditions { IfNoneMatch = new ETag(knownETag) };
        }

        try
        {
            var response = await blob.DownloadContentAsync(options, ct).ConfigureAwait(false);
            if (response.GetRawResponse().Status == 304)
            {
                // The SDK answers a met If-None-Match with a body-less response rather than an exception.
                return LatestLookup.NotModified;
            }

            var etag = response.Value.Details.ETag.ToString();
            using var doc = JsonDocument.Parse(response.Value.Content.ToMemory());
            var root = doc.RootElement;
            var version = root.TryGetProperty("version", out var v)
                ? v.ValueKind == JsonValueKind.Number ? v.GetRawText() : v.GetString()
                : null;
            if (!ModelNames.IsValidVersion(version))
            {
                throw new InvalidDataException($"models/{name}/latest.json has no valid \"version\".");
            }

            DateTimeOffset? publishedAt = root.TryGetProperty("publishedAt", out var p) && p.ValueKind == JsonValueKind.String && p.TryGetDateTimeOffset(out var at) ? at : null;
            var sha = root.TryGetProperty("sha256", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            return new LatestLookup(LatestStatus.Found, new LatestAlias(name, version!, publishedAt, sha, etag));
        }
        catch (RequestFailedException e) when (e.Status == 304)
        {
            return LatestLookup.NotModified;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return LatestLookup.Missing;
        }
    }

    public async Task<IReadOnlyList<string>> ListVersionsAsync(string name, CancellationToken ct)
    {
        var versions = new List<string>();
        try
        {
            await foreach (var item in _models.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{name}/", ct).ConfigureAwait(false))
            {
                if (item.IsPrefix)
                {
                    var version = item.Prefix[(name.Length + 1)..].TrimEnd('/');
                    if (ModelNames.IsValidVersion(version))
                    {
                        versions.Add(version);
                    }
                }
            }
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return [];
        }

        return versions.OrderBy(v => long.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }

    public async Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken ct)
    {
        var names = new List<string>();
        try
        {
            await foreach (var item in _models.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", null, ct).ConfigureAwait(false))
            {
                if (item.IsPrefix && ModelNames.IsValidName(item.Prefix.TrimEnd('/')))
                {
                    var name = item.Prefix.TrimEnd('/');
                    if (await _models.GetBlobClient(BlobLayout.LatestAlias(name).Name).ExistsAsync(ct).ConfigureAwait(false))
                    {
                        names.Add(name);
                    }
                }
            }
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return [];
        }

        return names;
    }

    public async Task<bool> TryDownloadAsync(string name, string version, string file, string localPath, CancellationToken ct)
    {
        var blob = _models.GetBlobClient(BlobLayout.ModelArtifact(name, version, file).Name);
        var partial = localPath + $".{Guid.NewGuid():N}.part";
        try
        {
            await blob.DownloadToAsync(partial, ct).ConfigureAwait(false);
            File.Move(partial, localPath, overwrite: true);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return false;
        }
        finally
        {
            File.Delete(partial);
        }
    }

    public async Task<string?> TryReadTextAsync(string name, string version, string file, CancellationToken ct)
    {
        var blob = _models.GetBlobClient(BlobLayout.ModelArtifact(name, version, file).Name);
        try
        {
            var response = await blob.DownloadContentAsync(ct).ConfigureAwait(false);
            return response.Value.Content.ToString();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }
}
