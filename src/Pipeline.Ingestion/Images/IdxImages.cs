using System.Buffers.Binary;
using System.IO.Compression;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core.Storage;
using SkiaSharp;

namespace Pipeline.Ingestion.Images;

/// <summary>
/// Reads IDX image files (MNIST / Fashion-MNIST: magic 0x00000803, uint8, [count, rows, cols], optionally gzip) and
/// uploads them as individual grey PNG blobs, so a real image set arrives the way a user's uploads would.
/// </summary>
public static class IdxImages
{
    /// <summary>Reads up to <paramref name="limit"/> images; each is rows x cols bytes, row-major.</summary>
    public static (int Rows, int Cols, List<byte[]> Images) Read(string path, int limit = int.MaxValue)
    {
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        var header = new byte[16];
        stream.ReadExactly(header);
        var magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != 0x00000803)
        {
            throw new InvalidDataException($"{path} is not an IDX image file (magic 0x{magic:X8}, expected 0x00000803 for uint8 [n, rows, cols]).");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
        int rows = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8)), cols = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12));
        var images = new List<byte[]>();
        for (var i = 0; i < Math.Min(count, limit); i++)
        {
            var image = new byte[rows * cols];
            stream.ReadExactly(image);
            images.Add(image);
        }

        return (rows, cols, images);
    }

    public static byte[] EncodePng(byte[] grey, int rows, int cols)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(cols, rows, SKColorType.Gray8, SKAlphaType.Opaque));
        grey.CopyTo(bitmap.GetPixelSpan());
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Uploads images as unlabeled/{dataset}/{prefix}{index:D5}.png; returns the blob paths in order.</summary>
    public static async Task<IReadOnlyList<BlobPath>> UploadAsync(
        BlobServiceClient service, string dataset, string prefix, int rows, int cols, IReadOnlyList<byte[]> images,
        int parallelism = 16, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        var container = service.GetBlobContainerClient(BlobLayout.Unlabeled);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var paths = new BlobPath[images.Count];
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, images.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var path = new BlobPath(BlobLayout.Unlabeled, $"{dataset}/{prefix}{i:D5}.png");
            await container.GetBlobClient(path.Name).UploadAsync(
                BinaryData.FromBytes(EncodePng(images[i], rows, cols)),
                new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "image/png" } }, ct).ConfigureAwait(false);
            paths[i] = path;
            progress?.Report(Interlocked.Increment(ref done));
        }).ConfigureAwait(false);
        return paths;
    }
}
