using Azure.Storage.Blobs;
using Pipeline.Core.Storage;
using Pipeline.Testing;

namespace Pipeline.Tests.Storage;

[Collection(AzuriteCollection.Name)]
public class AzuriteFixtureTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Blob_written_to_the_emulator_reads_back_byte_for_byte()
    {
        var service = await azurite.CreateLayoutAsync();
        var blob = service.GetBlobContainerClient(BlobLayout.Runs).GetBlobClient($"fixture/{Guid.NewGuid():N}.bin");
        var bytes = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 31)).ToArray();

        await blob.UploadAsync(BinaryData.FromBytes(bytes));
        var read = (await blob.DownloadContentAsync()).Value.Content.ToArray();

        Assert.Equal(bytes, read);
        Assert.StartsWith("http://127.0.0.1:", blob.Uri.ToString());
    }

    [Fact]
    public void Connection_string_is_never_shown_by_storage_options()
    {
        var options = azurite.StorageOptions;
        Assert.DoesNotContain("AccountKey", options.ToString());
    }

    [Theory]
    [InlineData("runs/r1/j1/spec.json", "runs", "r1/j1/spec.json")]
    [InlineData("/models/m/latest.json", "models", "m/latest.json")]
    public void Blob_path_parses_container_and_name(string text, string container, string name)
    {
        var path = BlobPath.Parse(text);
        Assert.Equal(new BlobPath(container, name), path);
        Assert.Equal(text.TrimStart('/'), path.ToString());
    }

    [Theory]
    [InlineData("runs")]
    [InlineData("runs/")]
    [InlineData("/x")]
    public void Blob_path_without_a_name_is_rejected(string text) =>
        Assert.Throws<FormatException>(() => BlobPath.Parse(text));
}
