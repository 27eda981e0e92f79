using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Core;
using Pipeline.Core.Jobs;
using Pipeline.Core.Registry;
using Pipeline.Core.Storage;
using Pipeline.Evaluation.Data;
using Pipeline.Inference.Heads;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Services;
using Pipeline.Testing;
using Pipeline.Tests.Evaluation;

namespace Pipeline.Tests.Orchestration;

/// <summary>
/// The publish step with labels present: labeled/{dataset}/ is probed with the job's real (tiny) ONNX encoders at the
/// configured budgets, and the version carries the evaluator's files (classifier.json for /classify, the plot, the report).
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class LabeledEvaluationPublishTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Evaluation_on_labeled_dataset_is_published_with_the_model()
    {
        var service = await azurite.CreateLayoutAsync();
        using var temp = new TempDirectory("publish-eval");
        var (data, vocab) = SyntheticData.TopicTexts(trainPerClass: 20, testPerClass: 10);
        var model = temp.Combine("model");
        Directory.CreateDirectory(model);
        TinyEncoders.WriteText(model, vocab, dims: 8, classes: 4, wordsPerClass: 6);
        new ParityReport { Model = "encoder.onnx", MaxAbsDiff = 0, Passed = true }.WriteJson(Path.Combine(model, "parity.json"));
        var dataset = $"topics-{Guid.NewGuid():N}"[..20];
        var (runId, jobId) = ($"run-{dataset}", "mlm-tiny");

        var runs = service.GetBlobContainerClient(BlobLayout.Runs);
        var artifacts = new Dictionary<string, string>();
        foreach (var file in Directory.EnumerateFiles(model))
        {
            var name = $"{BlobLayout.RunJobPrefix(runId, jobId)}outputs/{Path.GetFileName(file)}";
            await runs.GetBlobClient(name).UploadAsync(file);
            artifacts[Path.GetFileName(file)] = new BlobPath(BlobLayout.Runs, name).ToString();
        }

        var resultPath = BlobLayout.JobResult(runId, jobId);
        var result = new JobResult { RunId = runId, JobId = jobId, Objective = Objectives.Mlm, Status = JobResult.Statuses.Succeeded, Steps = 1, Artifacts = artifacts };
        await runs.GetBlobClient(resultPath.Name).UploadAsync(new BinaryData(JsonSerializer.SerializeToUtf8Bytes(result, PipelineJson.Options)));
        await LabeledDataLoader.UploadAsync(service, WriteJsonl(data, temp.Combine("labels")), dataset, CancellationToken.None);
        var input = new PublishInput(runId, jobId, Objectives.Mlm, $"{dataset}-mlm", resultPath.ToString(),
            new SealedDataset(dataset, "1", "text", $"datasets/{dataset}/v1/manifest.json", 100, 90, 10));
        var options = new PipelineOptions { EvaluationBudgets = ["2/class", "all"], EvaluationDraws = 2 };

        var evaluation = await new LabeledSetEvaluator(service, options, NullLogger<LabeledSetEvaluator>.Instance).EvaluateAsync(input, CancellationToken.None);
        Assert.True(evaluation is { Ran: true, Passed: true }, evaluation.Detail);
        var published = await new RegistryPublisher(service, NullLogger<RegistryPublisher>.Instance)
            .PublishAsync(new PublishModelRequest(input, new ParityGate(true, 0, "ok"), evaluation), CancellationToken.None);

        var registry = new ModelRegistry(service);
        var folder = await registry.DownloadAsync(await registry.ResolveAsync(published.Name, published.Version), temp.Combine("down"));
        var head = LinearHead.Parse(File.ReadAllText(Path.Combine(folder, LinearHead.FileName)));
        Assert.Equal(data.ClassNames, head.Labels);
        Assert.True(new FileInfo(Path.Combine(folder, "data-efficiency.png")).Length > 5000);
        Assert.Contains("| 2/class (8) |", File.ReadAllText(Path.Combine(folder, "data-efficiency.md")));
        var metrics = File.ReadAllText(Path.Combine(folder, "metrics.json"));
        Assert.Contains("probe_2pc_pretrained", metrics);
        Assert.Contains("probe_100pct_random_init", metrics);
        Assert.Contains("probe_100pct_tfidf", metrics);
    }

    private static string WriteJsonl(LabeledDataset data, string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var (file, split) in new[] { ("train.jsonl", data.Train), ("test.jsonl", data.Test) })
        {
            File.WriteAllLines(Path.Combine(folder, file), Enumerable.Range(0, split.Count).Select(i =>
                JsonSerializer.Serialize(new { text = split.Texts![i], label = data.ClassNames[split.Labels[i]] })));
        }

        return folder;
    }
}
