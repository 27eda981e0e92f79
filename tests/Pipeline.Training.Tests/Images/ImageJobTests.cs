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
