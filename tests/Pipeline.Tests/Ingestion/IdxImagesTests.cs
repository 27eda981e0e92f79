using System.Buffers.Binary;
using System.IO.Compression;
using Pipeline.Core.Storage;
using Pipeline.Ingestion;
using Pipeline.Ingestion.Images;
using Pipeline.Testing;

namespace Pipeline.Tests.Ingestion;

[Collection(AzuriteCollection.Name)]
public class IdxImagesTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Idx_images_upload_as_pngs_that_ingest_back_to_the_same_pixels()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("tiny-images-idx3-ubyte.gz");
        var random = new Random(3);
        var original = Enumerable.Range(0, 5).Select(_ => { var b = new byte[28 * 28]; random.NextBytes(b); return b; }).ToList();
        await using (var file = File.Create(path))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            var header = new byte[16];
            BinaryPrimitives.WriteInt32BigEndian(header, 0x803);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), original.Count);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), 28);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), 28);
            gzip.Write(header);
            original.ForEach(image => gzip.Write(image));
        }

        var (rows, cols, images) = IdxImages.Read(path, limit: 4);
        var service = await azurite.CreateLayoutAsync();
        var dataset = "idx" + Guid.NewGuid().ToString("N")[..8];
        var uploaded = await IdxImages.UploadAsync(service, dataset, "img-", rows, cols, images);

        Assert.Equal(4, uploaded.Count);
        Assert.Equal($"{dataset}/img-00003.png", uploaded[3].Name);
        var ingestion = new ImageIngestion(service);
        foreach (var blob in uploaded)
        {
            Assert.Equal(BlobIngestOutcome.Statuses.Accepted, (await ingestion.AcceptBlobAsync(blob)).Status);
        }

        var bytes = (await service.GetBlobContainerClient(BlobLayout.Unlabeled).GetBlobClient(uploaded[2].Name).DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(original[2], ImageDecoder.ToChw(bytes, new Pipeline.Core.Datasets.ImagePreprocessing()));
    }
}
