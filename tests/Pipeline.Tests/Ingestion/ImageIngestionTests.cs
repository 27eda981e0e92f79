using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Storage;
using Pipeline.Ingestion;
using Pipeline.Ingestion.Images;
using Pipeline.Ingestion.Quarantine;
using Pipeline.Testing;
using SkiaSharp;

namespace Pipeline.Tests.Ingestion;

[Collection(AzuriteCollection.Name)]
public class ImageIngestionTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Bad_uploads_are_quarantined_with_their_reason_and_good_ones_accepted_once()
    {
        var service = await azurite.CreateLayoutAsync();
        var dataset = "img" + Guid.NewGuid().ToString("N")[..8];
        var ingestion = new ImageIngestion(service);
        var png = Encode(Solid(30, 20, new SKColor(10, 200, 30)), SKEncodedImageFormat.Png);
        var jpeg = Encode(Solid(16, 16, new SKColor(90, 90, 90)), SKEncodedImageFormat.Jpeg);
        var cases = new (string Name, byte[] Bytes, string Expected)[]
        {
            ("ok.png", png, BlobIngestOutcome.Statuses.Accepted),
            ("ok.jpg", jpeg, BlobIngestOutcome.Statuses.Accepted),
            ("copy/of-ok.png", png, BlobIngestOutcome.Statuses.Duplicate),
            ("empty.png", [], QuarantineCodes.Empty),
            ("truncated.png", png[..(png.Length / 2)], QuarantineCodes.DecodeFailed),
            ("noise.jpeg", Encoding.ASCII.GetBytes("definitely not an image"), QuarantineCodes.DecodeFailed),
            ("renamed.jpg", png, QuarantineCodes.MagicMismatch),
            ("bomb.png", BombPng(9000, 9000), QuarantineCodes.DecompressionBomb),
            ("wide.png", BombPng(20000, 1), QuarantineCodes.DimensionsTooLarge),
            ("zero.png", BombPng(0, 5), QuarantineCodes.DecodeFailed),
            ("notes.gif", png, QuarantineCodes.UnsupportedExtension),
        };

        foreach (var (name, bytes, expected) in cases)
        {
            var upload = await UploadAsync(service, dataset, name, bytes);
            var outcome = await ingestion.AcceptBlobAsync(upload);
            Assert.True(outcome.Status == expected || outcome.Reason == expected, $"{name}: got {outcome.Status}/{outcome.Reason}, expected {expected}");
            if (outcome.Status == BlobIngestOutcome.Statuses.Quarantined)
            {
                var record = await new QuarantineStore(service).ReadReasonAsync(dataset, name);
                Assert.Equal(expected, record!.Code);
                var kept = await service.GetBlobContainerClient(BlobLayout.Quarantine).GetBlobClient($"{dataset}/{name}").DownloadContentAsync();
                Assert.Equal(bytes, kept.Value.Content.ToArray());
                // A repeated event for the moved upload reports the same outcome instead of failing.
                Assert.Equal(expected, (await ingestion.AcceptBlobAsync(upload)).Reason);
            }
        }

        var duplicate = await ingestion.AcceptBlobAsync(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/copy/of-ok.png"));
        Assert.Equal($"unlabeled/{dataset}/ok.png", duplicate.DuplicateOf);
    }

    [Fact]
    public async Task Seal_writes_resized_grey_shards_a_stable_split_and_the_preprocessing_it_applied()
    {
        var service = await azurite.CreateLayoutAsync();
        var dataset = "seal" + Guid.NewGuid().ToString("N")[..8];
        var ingestion = new ImageIngestion(service);
        var random = new Random(7);
        var exact = new Dictionary<string, byte[]>();
        for (var i = 0; i < 20; i++)
        {
            // 28x28 grey noise must pass through pixel for pixel (no resampling at the target size).
            var pixels = new byte[28 * 28];
            random.NextBytes(pixels);
            var bytes = EncodeGrey(pixels, 28, 28);
            var outcome = await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, $"noise-{i}.png", bytes));
            exact[outcome.ContentHash] = pixels;
        }

        // A 50x30 RGB solid colour: resized and centre-cropped to 28x28, grey = BT.601 luma of (200, 100, 50) = 124.
        var solid = await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "solid.png", Encode(Solid(50, 30, new SKColor(200, 100, 50)), SKEncodedImageFormat.Png)));
        Assert.Equal(BlobIngestOutcome.Statuses.Accepted, solid.Status);

        var options = new ImageSealOptions { ValidationFraction = 0.3, ImagesPerShard = 8 };
        var result = await ingestion.SealAsync(dataset, "v1", options);

        Assert.Equal(21, result.Items);
        Assert.Equal(result.Items, result.TrainItems + result.ValidationItems);
        var datasets = service.GetBlobContainerClient(BlobLayout.Datasets);
        var manifest = (await datasets.GetBlobClient(result.Manifest.Name).DownloadContentAsync()).Value.Content.ToObjectFromJson<DatasetManifest>(PipelineJson.Options)!;
        Assert.Equal("image", manifest.Kind);
        Assert.Equal((1, 28, 28), (manifest.Channels, manifest.Height, manifest.Width));
        Assert.Equal(result.TrainItems, manifest.TrainShards.Sum(s => s.Items));
        Assert.True(manifest.TrainShards.Count >= 2, "8 images per shard must give several train shards");

        var seen = new List<byte[]>();
        foreach (var (shard, isValidation) in manifest.TrainShards.Select(s => (s, false)).Concat(manifest.ValidationShards.Select(s => (s, true))))
        {
            var bytes = (await datasets.GetBlobClient(BlobPath.Parse(shard.Path).Name).DownloadContentAsync()).Value.Content.ToArray();
            Assert.Equal(shard.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            var data = ImageShard.Read(bytes);
            for (var i = 0; i < data.Count; i++)
            {
                var image = data.Image(i).ToArray();
                seen.Add(image);
                var match = exact.FirstOrDefault(e => e.Value.AsSpan().SequenceEqual(image));
                if (match.Key is not null)
                {
                    Assert.Equal(ImageIngestion.IsValidation(match.Key, 0.3), isValidation);
                }
            }
        }

        Assert.All(exact.Values, pixels => Assert.Contains(seen, s => s.AsSpan().SequenceEqual(pixels)));
        var resized = Assert.Single(seen, s => !exact.Values.Any(e => e.AsSpan().SequenceEqual(s)));
        Assert.All(resized, b => Assert.InRange(b, 122, 126));

        var preprocessing = (await datasets.GetBlobClient($"{dataset}/v1/preprocessing.json").DownloadContentAsync()).Value.Content.ToObjectFromJson<ImagePreprocessing>(PipelineJson.Options)!;
        Assert.InRange(preprocessing.ImageMean[0], 0.3, 0.7);
        Assert.InRange(preprocessing.ImageStd[0], 0.1, 0.5);

        // Sealing the same version again is a no-op that reports the same counts.
        var again = await ingestion.SealAsync(dataset, "v1", options);
        Assert.Equal(result.TrainItems, again.TrainItems);
    }

    private static async Task<BlobPath> UploadAsync(Azure.Storage.Blobs.BlobServiceClient service, string dataset, string name, byte[] bytes)
    {
        var path = new BlobPath(BlobLayout.Unlabeled, $"{dataset}/{name}");
        await service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name).UploadAsync(BinaryData.FromBytes(bytes), overwrite: true);
        return path;
    }

    private static SKBitmap Solid(int width, int height, SKColor color)
    {
        var bitmap = new SKBitmap(width, height);
        bitmap.Erase(color);
        return bitmap;
    }

    private static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format, int quality = 90)
    {
        using (bitmap)
        {
            using var data = bitmap.Encode(format, quality);
            return data.ToArray();
        }
    }

    private static byte[] EncodeGrey(byte[] pixels, int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        pixels.CopyTo(bitmap.GetPixelSpan());
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>A tiny PNG whose header declares width x height grey pixels: the shape of a decompression bomb.</summary>
    private static byte[] BombPng(int width, int height)
    {
        using var output = new MemoryStream();
        output.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth; colour type 0 (grey), no interlace
        Chunk(output, "IHDR", ihdr);
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            z.Write(new byte[64 * 1024]);
        }

        Chunk(output, "IDAT", idat.ToArray());
        Chunk(output, "IEND", []);
        return output.ToArray();
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        output.Write(header);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        output.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(header, Crc32(typed));
        output.Write(header);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }
}
