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

public sealed class SampleDataTests
{
    [Fact]
    public void Shipped_samples_load_with_their_notices()
    {
        var glosses = Pipeline.Evaluation.Data.LabeledDataLoader.Load(Pipeline.Evaluation.Samples.Labeled(Pipeline.Evaluation.Samples.WordNetTask));
        Assert.Equal(8, glosses.ClassNames.Count);
        Assert.Equal(480, glosses.Train.Count);
        Assert.Equal(200, glosses.Test.Count);
        var images = Pipeline.Evaluation.Data.LabeledDataLoader.Load(Pipeline.Evaluation.Samples.Labeled(Pipeline.Evaluation.Samples.FashionMnistTask));
        Assert.Equal(10, images.ClassNames.Count);
        Assert.Equal((1, 28, 28), images.ImageShape);
        Assert.Equal(2000, images.Train.Count);
        Assert.Equal(200, images.Train.Labels.Count(l => l == 3));
        var notice = File.ReadAllText(Pipeline.Evaluation.Samples.Notice);
        Assert.Contains("WordNet 3.0 Copyright 2006 by Princeton University", notice);
        Assert.Contains("Zalando SE", notice);
        var corpus = File.ReadAllLines(Path.Combine(Pipeline.Evaluation.Samples.Unlabeled(Pipeline.Evaluation.Samples.WordNetCorpus), "glosses.txt"));
        Assert.Empty(corpus.Intersect(glosses.Test.Texts!));

        // The demo's unlabelled image pool: images only (no labels file beside it), none of them a labelled image.
        var poolFolder = Pipeline.Evaluation.Samples.Unlabeled(Pipeline.Evaluation.Samples.FashionMnistPool);
        Assert.Equal([Pipeline.Evaluation.Samples.FashionMnistPoolFile], Directory.GetFiles(poolFolder).Select(Path.GetFileName));
        var (rows, cols, pool) = Pipeline.Ingestion.Images.IdxImages.Read(Path.Combine(poolFolder, Pipeline.Evaluation.Samples.FashionMnistPoolFile));
        Assert.Equal((28, 28, 1000), (rows, cols, pool.Count));
        var labeled = images.Train.Images!.Concat(images.Test.Images!).Select(Convert.ToHexString).ToHashSet();
        Assert.DoesNotContain(pool, p => labeled.Contains(Convert.ToHexString(p)));
    }
}

[Collection(AzuriteCollection.Name)]
public sealed class JobEvaluatorTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Evaluates_a_job_in_storage_and_uploads_the_report_beside_it()
    {
        var service = await azurite.CreateLayoutAsync();
        using var temp = new TempDirectory("eval-job");
        var (data, vocab) = SyntheticData.TopicTexts(trainPerClass: 30, testPerClass: 10);
        TinyEncoders.WriteText(temp.Path, vocab, dims: 8, classes: 4, wordsPerClass: 6);
        var runId = $"run-{Guid.NewGuid():N}";
        var runs = service.GetBlobContainerClient(Pipeline.Core.Storage.BlobLayout.Runs);
        var artifacts = new Dictionary<string, string>();
        foreach (var file in new[] { "encoder.onnx", "encoder-random.onnx", "vocab.txt", "config.json" })
        {
            await runs.GetBlobClient($"{runId}/mlm-0/{file}").UploadAsync(temp.Combine(file), overwrite: true);
            artifacts[file] = $"runs/{runId}/mlm-0/{file}";
        }

        var labeled = temp.Combine("labeled");
        Directory.CreateDirectory(labeled);
        File.WriteAllLines(Path.Combine(labeled, "train.jsonl"), data.Train.Texts!.Select((t, i) => System.Text.Json.JsonSerializer.Serialize(new { text = t, label = data.ClassNames[data.Train.Labels[i]] })));
        File.WriteAllLines(Path.Combine(labeled, "test.jsonl"), data.Test.Texts!.Select((t, i) => System.Text.Json.JsonSerializer.Serialize(new { text = t, label = data.ClassNames[data.Test.Labels[i]] })));
        var task = $"topics-{Guid.NewGuid():N}";
        await LabeledDataLoader.UploadAsync(service, labeled, task, CancellationToken.None);

        var evaluator = new Pipeline.Evaluation.JobEvaluator(service, new Pipeline.Evaluation.DataEfficiencyOptions { Budgets = ["3/class"], Draws = 2 });
        var skipped = await evaluator.EvaluateAsync(new() { RunId = runId, JobId = "mlm-0", Artifacts = artifacts, Tasks = ["nothing-here"] }, null, CancellationToken.None);
        Assert.False(skipped.Ran);

        var result = await evaluator.EvaluateAsync(new() { RunId = runId, JobId = "mlm-0", Artifacts = artifacts, Tasks = ["nothing-here", task] }, null, CancellationToken.None);
        Assert.True(result.Ran, result.Detail);
        Assert.Equal(task, result.Task);
        Assert.True(result.Metrics["probe_3pc_pretrained"] > result.Metrics["probe_3pc_random_init"]);
        Assert.Equal($"runs/{runId}/mlm-0/evaluation/classifier.json", result.Files["classifier.json"]);
        Assert.True(await runs.GetBlobClient($"{runId}/mlm-0/evaluation/data-efficiency.png").ExistsAsync());
        Assert.Equal(4, (int)result.Evaluation!["classes"]!);
    }
}
