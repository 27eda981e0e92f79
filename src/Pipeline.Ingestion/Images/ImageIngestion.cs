using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Storage;
using Pipeline.Ingestion.Dedupe;
using Pipeline.Ingestion.Quarantine;

namespace Pipeline.Ingestion.Images;

/// <summary>
/// Image ingestion: per upload, validate and dedupe (AcceptBlobAsync); per dataset version, decode every accepted
/// image, resize to the configured geometry and write uint8 shards, preprocessing.json and manifest.json (SealAsync).
/// </summary>
public sealed class ImageIngestion(BlobServiceClient service, ImageValidationOptions? limits = null)
{
    public const string PreprocessingFile = "preprocessing.json";
    private readonly ImageValidationOptions _limits = limits ?? new ImageValidationOptions();
    private readonly ContentIndex _index = new(service);
    private readonly QuarantineStore _quarantine = new(service);

    /// <summary>Accepts, dedupes or quarantines one upload under unlabeled/{dataset}/.</summary>
    public async Task<BlobIngestOutcome> AcceptBlobAsync(BlobPath upload, CancellationToken cancellationToken = default)
    {
        var (dataset, relative) = SplitUpload(upload);
        var blob = service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name);
        BlobProperties properties;
        try
        {
            properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // A repeated event for an upload already moved to quarantine: report the recorded outcome.
            var previous = await _quarantine.ReadReasonAsync(dataset, relative, cancellationToken).ConfigureAwait(false);
            if (previous is not null)
            {
                return new BlobIngestOutcome(BlobIngestOutcome.Statuses.Quarantined, previous.Sha256 ?? "", previous.Code);
            }

            throw new FileNotFoundException($"Upload {upload} does not exist and was never quarantined.");
        }

        QuarantineReason? reason;
        string sha256;
        if (properties.ContentLength > _limits.MaxBytes)
        {
            // Do not download what we would refuse anyway.
            sha256 = "";
            reason = new QuarantineReason(QuarantineCodes.TooLarge,
                $"The file is {properties.ContentLength} bytes, over the {_limits.MaxBytes}-byte limit; shrink or recompress it.");
        }
        else
        {
            var bytes = (await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content.ToMemory();
            sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes.Span));
            reason = ImageDecoder.Inspect(bytes.Span, relative, _limits);
            if (reason is null)
            {
                using var decoded = ImageDecoder.DecodeRgba(bytes.Span);
                if (decoded is null)
                {
                    reason = new QuarantineReason(QuarantineCodes.DecodeFailed, "The pixel data is corrupt or truncated; re-export the image.");
                }
            }
        }

        if (reason is not null)
        {
            await _quarantine.QuarantineAsync(upload, dataset, relative, reason, sha256 == "" ? null : sha256, cancellationToken).ConfigureAwait(false);
            return new BlobIngestOutcome(BlobIngestOutcome.Statuses.Quarantined, sha256, reason.Code);
        }

        var claim = await _index.TryClaimAsync(dataset, sha256, upload.ToString(), cancellationToken).ConfigureAwait(false);
        return claim.IsFirst || claim.SameSource
            ? new BlobIngestOutcome(BlobIngestOutcome.Statuses.Accepted, sha256)
            : new BlobIngestOutcome(BlobIngestOutcome.Statuses.Duplicate, sha256, DuplicateOf: claim.FirstSource);
    }

    /// <summary>
    /// Seals datasets/{dataset}/{version}/ from every accepted image: shards, preprocessing.json, then manifest.json
    /// last (its presence marks the version complete, so a repeated call returns the existing version).
    /// </summary>
    public async Task<DatasetVersionResult> SealAsync(string dataset, string version, ImageSealOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ImageSealOptions();
        options.Validate();
        var container = service.GetBlobContainerClient(BlobLayout.Datasets);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var manifestPath = BlobLayout.DatasetManifest(dataset, version);
        var manifestBlob = container.GetBlobClient(manifestPath.Name);
        if ((await manifestBlob.ExistsAsync(cancellationToken).ConfigureAwait(false)).Value)
        {
            var existing = (await manifestBlob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content
                .ToObjectFromJson<DatasetManifest>(PipelineJson.Options)!;
            long train = existing.TrainShards.Sum(s => s.Items), validation = existing.ValidationShards.Sum(s => s.Items);
            return new DatasetVersionResult(manifestPath, train + validation, train, validation, 0);
        }

        var geometry = options.Preprocessing;
        var images = new ConcurrentBag<(string Sha, string Source, byte[] Chw)>();
        long skipped = 0;
        var entries = new List<string>();
        await foreach (var item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{dataset}/index/", cancellationToken).ConfigureAwait(false))
        {
            if (item.IsBlob && item.Blob.Name.EndsWith(".json", StringComparison.Ordinal))
            {
                entries.Add(item.Blob.Name);
            }
        }

        await Parallel.ForEachAsync(entries, new ParallelOptions { MaxDegreeOfParallelism = options.DownloadParallelism, CancellationToken = cancellationToken }, async (name, ct) =>
        {
            var entry = (await container.GetBlobClient(name).DownloadContentAsync(ct).ConfigureAwait(false)).Value.Content
                .ToObjectFromJson<ContentIndexEntry>(PipelineJson.Options)!;
            var source = BlobPath.Parse(entry.FirstSource);
            if (!ImageValidationOptions.Extensions.Contains(Path.GetExtension(source.Name).ToLowerInvariant()))
            {
                return;
            }

            try
            {
                var bytes = (await service.GetBlobContainerClient(source.Container).GetBlobClient(source.Name).DownloadContentAsync(ct).ConfigureAwait(false)).Value.Content;
                var chw = ImageDecoder.ToChw(bytes.ToMemory().Span, geometry);
                if (chw is null)
                {
                    Interlocked.Increment(ref skipped);
                    return;
                }

                images.Add((entry.Sha256, entry.FirstSource, chw));
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // The user deleted the upload after it was accepted: it is simply not part of this version.
                Interlocked.Increment(ref skipped);
            }
        }).ConfigureAwait(false);

        var ordered = images.OrderBy(i => i.Sha, StringComparer.Ordinal).ToList();
        var trainSet = ordered.Where(i => !IsValidation(i.Sha, options.ValidationFraction)).Select(i => i.Chw).ToList();
        var validationSet = ordered.Where(i => IsValidation(i.Sha, options.ValidationFraction)).Select(i => i.Chw).ToList();
        if (trainSet.Count == 0)
        {
            throw new InvalidOperationException($"Dataset '{dataset}' has no accepted images to seal ({skipped} skipped); upload .png/.jpg files under unlabeled/{dataset}/ first.");
        }

        var (mean, std) = MeasureMeanStd(trainSet, geometry.Channels, geometry.Height * geometry.Width);
        var preprocessing = geometry with { ImageMean = mean, ImageStd = std };
        preprocessing.Validate();

        var prefix = BlobLayout.DatasetVersionPrefix(dataset, version);
        var trainShards = await WriteShardsAsync(container, prefix + "train", trainSet, preprocessing, options.ImagesPerShard, cancellationToken).ConfigureAwait(false);
        var validationShards = await WriteShardsAsync(container, prefix + "validation", validationSet, preprocessing, options.ImagesPerShard, cancellationToken).ConfigureAwait(false);
        var preprocessingJson = JsonSerializer.SerializeToUtf8Bytes(preprocessing, PipelineJson.Options);
        await container.GetBlobClient(prefix + PreprocessingFile).UploadAsync(BinaryData.FromBytes(preprocessingJson), overwrite: true, cancellationToken).ConfigureAwait(false);

        var manifest = new DatasetManifest
        {
            Kind = "image",
            Dataset = dataset,
            Version = version,
            CreatedUtc = DateTimeOffset.UtcNow,
            Channels = preprocessing.Channels,
            Height = preprocessing.Height,
            Width = preprocessing.Width,
            Documents = ordered.Count,
            TrainShards = trainShards,
            ValidationShards = validationShards,
            Extra = new Dictionary<string, JsonElement>
            {
                ["preprocessing"] = JsonSerializer.SerializeToElement(preprocessing, PipelineJson.Options),
                ["preprocessingPath"] = JsonSerializer.SerializeToElement($"{BlobLayout.Datasets}/{prefix}{PreprocessingFile}"),
                ["skipped"] = JsonSerializer.SerializeToElement(skipped),
                ["validationFraction"] = JsonSerializer.SerializeToElement(options.ValidationFraction),
                ["split"] = JsonSerializer.SerializeToElement("validation when the first 4 bytes of sha256 (big-endian) / 2^32 < validationFraction"),
            },
        };
        await manifestBlob.UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(manifest, PipelineJson.Options)), overwrite: true, cancellationToken).ConfigureAwait(false);
        return new DatasetVersionResult(manifestPath, ordered.Count, trainSet.Count, validationSet.Count, skipped);
    }

    /// <summary>Deterministic split by content: the same image lands in the same split in every version.</summary>
    public static bool IsValidation(string sha256, double fraction)
    {
        var head = BinaryPrimitives.ReadUInt32BigEndian(Convert.FromHexString(sha256.AsSpan(0, 8)));
        return head / 4294967296.0 < fraction;
    }

    private static (double[] Mean, double[] Std) MeasureMeanStd(List<byte[]> images, int channels, int plane)
    {
        var mean = new double[channels];
        var std = new double[channels];
        for (var c = 0; c < channels; c++)
        {
            double sum = 0, sumSq = 0;
            foreach (var image in images)
            {
                foreach (var b in image.AsSpan(c * plane, plane))
                {
                    var v = b / 255.0;
                    sum += v;
                    sumSq += v * v;
                }
            }

            var n = (double)images.Count * plane;
            mean[c] = Math.Round(sum / n, 6);
            // A constant image set would give std 0; keep normalisation finite.
            std[c] = Math.Round(Math.Max(Math.Sqrt(Math.Max(0, (sumSq / n) - (sum / n * (sum / n)))), 1e-3), 6);
        }

        return (mean, std);
    }

    private static async Task<List<ShardInfo>> WriteShardsAsync(
        BlobContainerClient container, string stem, List<byte[]> images, ImagePreprocessing p, int perShard, CancellationToken cancellationToken)
    {
        var shards = new List<ShardInfo>();
        for (var start = 0; start < images.Count; start += perShard)
        {
            var part = images.GetRange(start, Math.Min(perShard, images.Count - start));
            using var stream = new MemoryStream();
            ImageShard.Write(stream, p.Channels, p.Height, p.Width, part);
            var bytes = stream.ToArray();
            var name = $"{stem}-{shards.Count:D5}.plimg";
            await container.GetBlobClient(name).UploadAsync(BinaryData.FromBytes(bytes), overwrite: true, cancellationToken).ConfigureAwait(false);
            shards.Add(new ShardInfo($"{BlobLayout.Datasets}/{name}", Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length, part.Count, 0));
        }

        return shards;
    }

    private static (string Dataset, string Relative) SplitUpload(BlobPath upload)
    {
        var slash = upload.Name.IndexOf('/');
        if (upload.Container != BlobLayout.Unlabeled || slash <= 0 || slash == upload.Name.Length - 1)
        {
            throw new ArgumentException($"{upload} is not an upload; images go under {BlobLayout.Unlabeled}/{{dataset}}/.");
        }

        return (upload.Name[..slash], upload.Name[(slash + 1)..]);
    }
}
