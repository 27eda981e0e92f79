using Pipeline.Evaluation.Data;
using Pipeline.Testing;

namespace Pipeline.Tests.Evaluation;

[Collection(AzuriteCollection.Name)]
public sealed class LabeledBlobTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Labelled_set_round_trips_through_the_labeled_container()
    {
        var service = await azurite.CreateLayoutAsync();
        using var temp = new TempDirectory("eval-blob");
        var source = temp.Combine("src");
        Directory.CreateDirectory(source);
        File.WriteAllLines(Path.Combine(source, "train.jsonl"), ["{\"text\": \"a cat\", \"label\": \"animal\"}", "{\"text\": \"a fig\", \"label\": \"food\"}"]);
        File.WriteAllLines(Path.Combine(source, "test.jsonl"), ["{\"text\": \"a dog\", \"label\": \"animal\"}", "{\"text\": \"a pear\", \"label\": \"food\"}"]);
        var task = $"glosses-{Guid.NewGuid():N}";

        await LabeledDataLoader.UploadAsync(service, source, task, CancellationToken.None);
        var data = await LabeledDataLoader.DownloadAsync(service, task, temp.Combine("down"), CancellationToken.None);

        Assert.Equal(task, data.Task);
        Assert.Equal(["animal", "food"], data.ClassNames);
        Assert.Equal(["a dog", "a pear"], data.Test.Texts);
        await Assert.ThrowsAsync<FileNotFoundException>(() => LabeledDataLoader.DownloadAsync(service, "missing-task", temp.Combine("none"), CancellationToken.None));
    }
}
