using System.Security.Cryptography;
using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Registry;
using Pipeline.Core.Storage;
using Pipeline.Testing;
using Pipeline.Training.Jobs;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Images;

public class ImageJobTests
{
    [Theory]
    [InlineData(Objectives.SimClr, "contrastive_top1")]
    [InlineData(Objectives.Rotation, "rotation_accuracy")]
    public async Task An_image_job_trains_and_publishes_every_artifact_through_the_trainer_runtime(string objective, string metric)
    {
        using var temp = new TempDirectory();
        var storage = new LocalJobStorage(temp.Combine("storage"));
        var manifestPath = WriteDataset(storage, "tiny", "v1");
        var spec = new JobSpec
        {
            RunId = "run1", JobId = objective, Objective = objective, DatasetManifest = manifestPath.ToString(),
            Settings = JsonSerializer.SerializeToElement(TinyImages.Settings(), PipelineJson.Options),
            Optimization = TinyImages.Optimization(6, checkpointEvery: 3),
        };
        var specFile = temp.Combine("spec.json");
        File.WriteAllText(specFile, JsonSerializer.Serialize(spec, PipelineJson.Options));

        var result = await JobRunner.RunAsync(new JobRunOptions { Spec = specFile, Storage = storage, WorkFolder = temp.Combine("work") }, CancellationToken.None);

        Assert.True(result.Status == JobResult.Statuses.Succeeded, result.Error);
        Assert.Equal(6, result.Steps);
        Assert.Equal(metric, result.ValidationMetric);
        Assert.True(result.HigherIsBetter);
        foreach (var artifact in new[] { "encoder.onnx", "encoder-random.onnx", "parity.json", "config.json", "preprocessing.json", "loss-curve.png", "checkpoint" })
        {
            Assert.True(result.Artifacts.ContainsKey(artifact), $"missing {artifact}");
        }

        Assert.Equal(objective == Objectives.SimClr, result.Artifacts.ContainsKey("view-pairs.png"));
        var parity = ParityReport.Read(File.ReadAllText(storage.FileOf(BlobPath.Parse(result.Artifacts["parity.json"]))));
        Assert.True(parity.Passed, parity.Failure);
        var preprocessing = JsonSerializer.Deserialize<ImagePreprocessing>(File.ReadAllText(storage.FileOf(BlobPath.Parse(result.Artifacts["preprocessing.json"]))), PipelineJson.Options)!;
        Assert.Equal(TinyImages.Grey16.ImageMean, preprocessing.ImageMean);
        Assert.NotEqual(
            File.ReadAllBytes(storage.FileOf(BlobPath.Parse(result.Artifacts["encoder.onnx"]))),
            File.ReadAllBytes(storage.FileOf(BlobPath.Parse(result.Artifacts["encoder-random.onnx"]))));
    }

    [Fact]
    public async Task A_simclr_job_monitors_knn_accuracy_on_a_labelled_set_supplied_apart()
    {
        using var temp = new TempDirectory();
        var storage = new LocalJobStorage(temp.Combine("storage"));
        var manifestPath = WriteDataset(storage, "tiny", "v1");
        WriteLabeledIdx(storage, "tiny-labels");
        var settings = TinyImages.Settings() with { Knn = new() { Labeled = "tiny-labels", Every = 3, K = 5, BankImages = 40, QueryImages = 24 } };
        var spec = new JobSpec
        {
            RunId = "run1", JobId = "knn", Objective = Objectives.SimClr, DatasetManifest = manifestPath.ToString(),
            Settings = JsonSerializer.SerializeToElement(settings, PipelineJson.Options),
            Optimization = TinyImages.Optimization(6, checkpointEvery: 3),
        };
        var specFile = temp.Combine("spec.json");
        File.WriteAllText(specFile, JsonSerializer.Serialize(spec, PipelineJson.Options));

        var result = await JobRunner.RunAsync(new JobRunOptions { Spec = specFile, Storage = storage, WorkFolder = temp.Combine("work") }, CancellationToken.None);

        Assert.True(result.Status == JobResult.Statuses.Succeeded, result.Error);
        Assert.InRange(result.Metrics["knn_accuracy"], 0.0, 1.0);
        Assert.InRange(result.Metrics["knn_accuracy_initial"], 0.0, 1.0);
        using var curve = JsonDocument.Parse(File.ReadAllText(storage.FileOf(BlobPath.Parse(result.Artifacts["knn-accuracy.json"]))));
        Assert.Equal([0, 3, 6], curve.RootElement.EnumerateArray().Select(p => p.GetProperty("step").GetInt32()));
        Assert.Equal(result.Metrics["knn_accuracy"], curve.RootElement[2].GetProperty("knn_accuracy").GetDouble());
        // Structured events in the job log, one per measurement.
        var events = File.ReadLines(temp.Combine("work", "outputs", "logs.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("message").GetString() == "knn accuracy")
            .Select(e => e.GetProperty("fields"))
            .ToList();
        Assert.Equal([0, 3, 6], events.Select(e => e.GetProperty("step").GetInt32()));
        Assert.All(events, e => Assert.Equal(24, e.GetProperty("queries").GetInt64()));
    }

    [Fact]
    public async Task A_missing_labelled_set_is_logged_and_the_job_trains_unmonitored()
    {
        using var temp = new TempDirectory();
        var storage = new LocalJobStorage(temp.Combine("storage"));
        var manifestPath = WriteDataset(storage, "tiny", "v1");
        var settings = TinyImages.Settings() with { Knn = new() { Labeled = "nothing-here" } };
        var spec = new JobSpec
        {
            RunId = "run1", JobId = "knn-missing", Objective = Objectives.SimClr, DatasetManifest = manifestPath.ToString(), Export = false,
            Settings = JsonSerializer.SerializeToElement(settings, PipelineJson.Options),
            Optimization = TinyImages.Optimization(2),
        };
        var specFile = temp.Combine("spec.json");
        File.WriteAllText(specFile, JsonSerializer.Serialize(spec, PipelineJson.Options));

        var result = await JobRunner.RunAsync(new JobRunOptions { Spec = specFile, Storage = storage, WorkFolder = temp.Combine("work") }, CancellationToken.None);

        Assert.True(result.Status == JobResult.Statuses.Succeeded, result.Error);
        Assert.False(result.Metrics.ContainsKey("knn_accuracy"));
        Assert.Contains(File.ReadLines(temp.Combine("work", "outputs", "logs.jsonl")), l => l.Contains("knn monitoring skipped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_job_on_fresh_storage_never_resumes_from_checkpoints_left_in_a_reused_work_folder()
    {
        // The local launcher's trainers share a scratch folder per spec path, and run ids repeat across storage accounts
        // (pretrain-{dataset}-1 in every fresh demo): only the job's checkpoint store may say where training resumes.
        using var temp = new TempDirectory();
        var work = temp.Combine("work");
        async Task<JobResult> RunAsync(string storageFolder, int steps)
        {
            var storage = new LocalJobStorage(temp.Combine(storageFolder));
            var spec = new JobSpec
            {
                RunId = "run1", JobId = "simclr", Objective = Objectives.SimClr, DatasetManifest = WriteDataset(storage, "tiny", "v1").ToString(), Export = false,
                Settings = JsonSerializer.SerializeToElement(TinyImages.Settings(), PipelineJson.Options),
                Optimization = TinyImages.Optimization(steps, checkpointEvery: 2),
            };
            var specFile = temp.Combine($"{storageFolder}.json");
            File.WriteAllText(specFile, JsonSerializer.Serialize(spec, PipelineJson.Options));
            return await JobRunner.RunAsync(new JobRunOptions { Spec = specFile, Storage = storage, WorkFolder = work }, CancellationToken.None);
        }

        var first = await RunAsync("storage-a", steps: 6);
        var second = await RunAsync("storage-b", steps: 4);

        Assert.True(first.Status == JobResult.Statuses.Succeeded, first.Error);
        Assert.True(second.Status == JobResult.Statuses.Succeeded, second.Error);
        Assert.Equal(6, first.Steps);
        Assert.Equal(4, second.Steps); // resumed from the stale step-6 scratch checkpoint it would report 6
        Assert.DoesNotContain(File.ReadLines(Path.Combine(work, "outputs", "logs.jsonl")), l => l.Contains("resumed", StringComparison.Ordinal));
    }

    /// <summary>labeled/{task}/ as MNIST-format idx files (train + t10k images and labels), bars labelled by orientation.</summary>
    private static void WriteLabeledIdx(LocalJobStorage storage, string task)
    {
        foreach (var (split, seed, count) in new[] { ("train", 21, 48), ("t10k", 22, 24) })
        {
            using var pixels = TinyImages.Bars(count, seed, out var labels);
            var images = new MemoryStream();
            images.Write([0, 0, 8, 3, 0, 0, 0, (byte)count, 0, 0, 0, 16, 0, 0, 0, 16]);
            images.Write(pixels.data<byte>().ToArray());
            var labelBytes = new MemoryStream();
            labelBytes.Write([0, 0, 8, 1, 0, 0, 0, (byte)count]);
            labelBytes.Write([.. labels.Select(l => (byte)l)]);
            foreach (var (name, bytes) in new[] { ($"{split}-images-idx3-ubyte", images.ToArray()), ($"{split}-labels-idx1-ubyte", labelBytes.ToArray()) })
            {
                var path = storage.FileOf(new BlobPath(BlobLayout.Labeled, $"{task}/{name}"));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, bytes);
            }
        }
    }

    /// <summary>A sealed image dataset version in job storage, as ImageIngestion.SealAsync writes it.</summary>
    private static BlobPath WriteDataset(LocalJobStorage storage, string dataset, string version)
    {
        var shards = new List<ShardInfo>();
        foreach (var (name, seed, count) in new[] { ("train-00000.plimg", 1, 48), ("validation-00000.plimg", 2, 16) })
        {
            using var pixels = TinyImages.Bars(count, seed);
            using var stream = new MemoryStream();
            var bytes = pixels.data<byte>().ToArray();
            ImageShard.Write(stream, 1, 16, 16, [.. Enumerable.Range(0, count).Select(i => bytes.AsSpan(i * 256, 256).ToArray())]);
            var path = new BlobPath(BlobLayout.Datasets, $"{dataset}/{version}/{name}");
            Directory.CreateDirectory(Path.GetDirectoryName(storage.FileOf(path))!);
            File.WriteAllBytes(storage.FileOf(path), stream.ToArray());
            shards.Add(new ShardInfo(path.ToString(), Convert.ToHexStringLower(SHA256.HashData(stream.ToArray())), stream.Length, count, 0));
        }

        var manifest = new DatasetManifest
        {
            Kind = "image", Dataset = dataset, Version = version, Channels = 1, Height = 16, Width = 16, Documents = 64,
            TrainShards = [shards[0]], ValidationShards = [shards[1]],
            Extra = new Dictionary<string, JsonElement> { ["preprocessing"] = JsonSerializer.SerializeToElement(TinyImages.Grey16, PipelineJson.Options) },
        };
        var manifestPath = BlobLayout.DatasetManifest(dataset, version);
        File.WriteAllText(storage.FileOf(manifestPath), JsonSerializer.Serialize(manifest, PipelineJson.Options));
        return manifestPath;
    }
}
