using Pipeline.Core.Storage;
using Pipeline.Ingestion.Dedupe;
using Pipeline.Ingestion.Quarantine;
using Pipeline.Testing;

namespace Pipeline.Tests.Ingestion;

[Collection(AzuriteCollection.Name)]
public class QuarantineAndDedupeTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Quarantined_upload_keeps_its_bytes_and_a_reason_and_leaves_unlabeled()
    {
        var service = await azurite.CreateLayoutAsync();
        var dataset = "q" + Guid.NewGuid().ToString("N")[..8];
        var upload = new BlobPath(BlobLayout.Unlabeled, $"{dataset}/bad.txt");
        var bytes = new byte[] { 0, 1, 2, 0, 0 };
        await service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name).UploadAsync(BinaryData.FromBytes(bytes));

        var store = new QuarantineStore(service);
        var record = await store.QuarantineAsync(upload, dataset, "bad.txt", new QuarantineReason(QuarantineCodes.Binary, "NUL bytes found"));

        var moved = await service.GetBlobContainerClient(BlobLayout.Quarantine).GetBlobClient($"{dataset}/bad.txt").DownloadContentAsync();
        Assert.Equal(bytes, moved.Value.Content.ToArray());
        Assert.False((await service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name).ExistsAsync()).Value);
        var reason = await store.ReadReasonAsync(dataset, "bad.txt");
        Assert.Equal(QuarantineCodes.Binary, reason!.Code);
        Assert.Equal(upload.ToString(), reason.Source);
        Assert.Equal(5, record.Bytes);
    }

    [Fact]
    public async Task Same_content_from_two_uploads_is_claimed_once_and_a_repeated_event_is_not_a_duplicate()
    {
        var service = await azurite.CreateLayoutAsync();
        var index = new ContentIndex(service);
        var dataset = "d" + Guid.NewGuid().ToString("N")[..8];
        var hash = new string('a', 64);

        var claims = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => index.TryClaimAsync(dataset, hash, $"unlabeled/{dataset}/f{i}.txt")));
        var repeat = await index.TryClaimAsync(dataset, hash, claims.Single(c => c.IsFirst).FirstSource);

        Assert.Single(claims, c => c.IsFirst);
        Assert.True(repeat.SameSource);
        Assert.False(repeat.IsFirst);
    }
}
