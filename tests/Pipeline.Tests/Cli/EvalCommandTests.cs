using System.CommandLine;
using System.Text.Json;
using Pipeline.Cli.Commands;
using Pipeline.Core.Registry;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;
using Pipeline.Inference.Heads;
using Pipeline.Testing;
using Pipeline.Tests.Evaluation;

namespace Pipeline.Tests.Cli;

/// <summary>`pipeline eval` as a user runs it: real tiny ONNX encoders, labels from a folder or from labeled/{task}/ in Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class EvalCommandTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Eval_of_a_local_encoder_on_labels_in_storage_writes_the_report_and_a_head()
    {
        var service = await azurite.CreateLayoutAsync();
        using var temp = new TempDirectory("cli-eval");
        var (data, vocab) = SyntheticData.TopicTexts(trainPerClass: 20, testPerClass: 10);
        var model = temp.Combine("model");
        Directory.CreateDirectory(model);
        TinyEncoders.WriteText(model, vocab, dims: 8, classes: 4, wordsPerClass: 6);
        var task = $"topics-{Guid.NewGuid():N}";
        await LabeledDataLoader.UploadAsync(service, WriteJsonl(data, temp.Combine("labels")), task, CancellationToken.None);

        var output = temp.Combine("out");
        var code = await InvokeAsync("eval", "--model-dir", model, "--labels", task, "--budgets", "2/class,all", "--draws", "2",
            "--out", output, "--connection", azurite.ConnectionString);

        Assert.Equal(0, code);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, DataEfficiencyArtifacts.MetricsFile)));
        var evaluation = metrics.RootElement.GetProperty("evaluation");
        Assert.Equal(task, evaluation.GetProperty("task").GetString());
        Assert.Equal(80, evaluation.GetProperty("trainPool").GetInt32());
        Assert.Equal(2, evaluation.GetProperty("draws").GetInt32());
        var pretrained = evaluation.GetProperty("probe_2pc_pretrained").GetDouble();
        var random = evaluation.GetProperty("probe_2pc_random_init").GetDouble();
        Assert.True(pretrained > 0.9 && pretrained > random + 0.2, $"pretrained {pretrained} vs random-init {random}");
        Assert.True(evaluation.TryGetProperty("probe_100pct_tfidf", out _));
        Assert.True(new FileInfo(Path.Combine(output, DataEfficiencyPlot.FileName)).Length > 5000);
        var head = LinearHead.Parse(File.ReadAllText(Path.Combine(output, LinearHead.FileName)));
        Assert.Equal(data.ClassNames, head.Labels);
    }

    [Fact]
    public async Task Eval_of_a_published_model_on_a_local_folder()
    {
        var service = await azurite.CreateLayoutAsync();
        using var temp = new TempDirectory("cli-eval-published");
        var (data, vocab) = SyntheticData.TopicTexts(trainPerClass: 10, testPerClass: 5);
        var files = temp.Combine("model");
        Directory.CreateDirectory(files);
        TinyEncoders.WriteText(files, vocab, dims: 8, classes: 4, wordsPerClass: 6);
        var name = $"topics-{Guid.NewGuid():N}"[..20];
        var published = await new ModelRegistry(service).PublishAsync(new PublishRequest
        {
            Name = name,
            Artifacts = new[] { "encoder.onnx", "vocab.txt", "config.json" }.ToDictionary(f => f, f => ArtifactSource.FromFile(Path.Combine(files, f))),
            // The tiny encoder is built in ONNX directly, so there is no training-side model to compare it with.
            Parity = new ParityReport { Model = "encoder.onnx", MaxAbsDiff = 0, Passed = true },
            Promote = false,
        }, CancellationToken.None);

        var output = temp.Combine("out");
        var code = await InvokeAsync("eval", "--model", $"{name}@{published.Version}", "--labels", WriteJsonl(data, temp.Combine("labels")),
            "--budgets", "all", "--draws", "1", "--out", output, "--connection", azurite.ConnectionString);

        Assert.Equal(0, code);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, DataEfficiencyArtifacts.MetricsFile)));
        var evaluation = metrics.RootElement.GetProperty("evaluation");
        Assert.True(evaluation.GetProperty("probe_100pct_pretrained").GetDouble() > 0.9);
        // A published version carries no encoder-random.onnx (training only): pretrained vs TF-IDF only.
        Assert.False(evaluation.TryGetProperty("probe_100pct_random_init", out _));
        Assert.True(evaluation.TryGetProperty("probe_100pct_tfidf", out _));
    }

    [Fact]
    public async Task Eval_refuses_bad_arguments_and_missing_files()
    {
        using var temp = new TempDirectory("cli-eval-bad");
        var (data, _) = SyntheticData.TopicTexts(trainPerClass: 2, testPerClass: 2);
        var labels = WriteJsonl(data, temp.Combine("labels"));

        Assert.Equal(2, await InvokeAsync("eval", "--labels", labels));
        Assert.Equal(2, await InvokeAsync("eval", "--model", "m", "--model-dir", temp.Path, "--labels", labels));
        Assert.Equal(2, await InvokeAsync("eval", "--model-dir", temp.Path, "--labels", labels, "--budgets", "lots"));
        Assert.Equal(1, await InvokeAsync("eval", "--model-dir", temp.Combine("nowhere"), "--labels", labels, "--out", temp.Combine("out")));
    }

    private static async Task<int> InvokeAsync(params string[] args)
    {
        var root = new RootCommand { EvalCommand.Create() };
        return await root.Parse(args).InvokeAsync();
    }

    private static string WriteJsonl(LabeledDataset data, string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var (file, split) in new[] { ("train.jsonl", data.Train), ("test.jsonl", data.Test) })
        {
            File.WriteAllLines(Path.Combine(folder, file), Enumerable.Range(0, split.Count).Select(i =>
                JsonSerializer.Serialize(new { text = split.Texts![i], label = data.ClassNames[split.Labels[i]] })));
        }

        File.WriteAllLines(Path.Combine(folder, LabeledDataLoader.LabelsFile), data.ClassNames);
        return folder;
    }
}
