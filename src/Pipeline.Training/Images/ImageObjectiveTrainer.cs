using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Training.Jobs;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>
/// SimCLR and rotation prediction as trainer-job objectives: loads the image shards, trains with checkpoints through the
/// job's store (resuming from the newest), then exports encoder.onnx (+ parity.json), encoder-random.onnx,
/// config.json, preprocessing.json, loss-curve.png and, for SimCLR, view-pairs.png.
/// </summary>
public sealed class ImageObjectiveTrainer(string objective) : IObjectiveTrainer
{
    public string Objective => objective;

    public async Task<ObjectiveOutcome> RunAsync(TrainingContext ctx, CancellationToken ct)
    {
        var manifest = ctx.Manifest;
        if (manifest.Kind != "image")
        {
            throw new InvalidOperationException($"Objective '{objective}' needs an image dataset; {manifest.Dataset}/{manifest.Version} is '{manifest.Kind}'.");
        }

        var preprocessing = ReadPreprocessing(manifest);
        var settings = ImagePretrainingSettings.FromSpec(ctx.Spec);
        using var train = LoadShards(ctx, manifest.TrainShards, preprocessing);
        using var validation = LoadShards(ctx, manifest.ValidationShards, preprocessing);
        ctx.Log.Info("image dataset loaded", new { train = train.shape[0], validation = validation.shape[0], preprocessing.Channels, preprocessing.Height, preprocessing.Width });

        using var trainer = new ImagePretrainer(objective, settings, ctx.Spec.Optimization, preprocessing, ctx.Device);
        var checkpointFolder = Path.Combine(ctx.WorkFolder, "checkpoints");
        var restoreFolder = Path.Combine(ctx.WorkFolder, "restore");
        var restored = await ctx.Checkpoints.RestoreLatestAsync(restoreFolder, ct).ConfigureAwait(false);
        if (restored is { } step)
        {
            Directory.CreateDirectory(checkpointFolder);
            var target = Path.Combine(checkpointFolder, $"step-{step:D8}");
            if (Directory.Exists(target))
            {
                Directory.Delete(target, recursive: true);
            }

            Directory.Move(restoreFolder, target);
            ctx.Log.Info("checkpoint restored", new { step });
        }

        var total = ctx.Spec.Optimization.Steps;
        var result = trainer.Train(
            train, validation, checkpointFolder,
            log: message => ctx.Log.Info(message),
            onCheckpoint: (folder, s) => ctx.Checkpoints.SaveAsync(s, folder, ct),
            stop: () => ctx.DeadlineReached,
            onStep: (s, loss) => ctx.Progress.Report(s, total, loss),
            cancellationToken: ct);
        ctx.Log.Info("training finished", new { result.Steps, result.MetricName, result.ValidationValue, result.StoppedByTimeLimit });

        var artifacts = WriteArtifacts(ctx, trainer, preprocessing, result, train, out var metrics);
        return new ObjectiveOutcome
        {
            Steps = result.Steps,
            Metrics = metrics,
            ValidationMetric = result.MetricName,
            ValidationValue = result.ValidationValue,
            HigherIsBetter = result.HigherIsBetter,
            Artifacts = artifacts,
            LossCurve = result.Losses,
            StoppedByTimeLimit = result.StoppedByTimeLimit,
        };
    }

    private Dictionary<string, string> WriteArtifacts(
        TrainingContext ctx, ImagePretrainer trainer, ImagePreprocessing preprocessing, ImagePretrainingResult result, Tensor train,
        out Dictionary<string, double> metrics)
    {
        var output = ctx.OutputFolder;
        var artifacts = new Dictionary<string, string>();
        metrics = new Dictionary<string, double>
        {
            [result.MetricName] = result.ValidationValue,
            ["final_loss"] = result.Losses.Count == 0 ? double.NaN : result.Losses.TakeLast(20).Average(l => l.Loss),
        };

        var config = Path.Combine(output, "config.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new ImageModelConfig(objective, trainer.Config, preprocessing, result.Steps, ctx.Spec.Optimization.Seed), PipelineJson.Options));
        artifacts["config.json"] = config;
        var preprocessingFile = Path.Combine(output, "preprocessing.json");
        File.WriteAllText(preprocessingFile, JsonSerializer.Serialize(preprocessing, PipelineJson.Options));
        artifacts["preprocessing.json"] = preprocessingFile;

        var lossCurve = Path.Combine(output, "loss-curve.png");
        LossCurvePlot.Save(lossCurve, $"{objective} {ctx.Spec.RunId}/{ctx.Spec.JobId}", result.Losses, []);
        artifacts["loss-curve.png"] = lossCurve;

        if (trainer.Pretext is SimClrPretext simclr)
        {
            var views = Path.Combine(output, "view-pairs.png");
            ViewPairsImage.Save(views, simclr, train, preprocessing, ctx.Spec.Optimization.Seed);
            artifacts["view-pairs.png"] = views;
        }

        if (ctx.Spec.Export)
        {
            var encoderOnnx = Path.Combine(output, "encoder.onnx");
            trainer.Encoder.eval();
            ImageEncoderOnnxExporter.Export(trainer.Encoder, trainer.Config, encoderOnnx);
            var parity = ImageEncoderOnnxExporter.CheckParity(trainer.Encoder, trainer.Config, encoderOnnx);
            var parityFile = Path.Combine(output, "parity.json");
            parity.WriteJson(parityFile);
            metrics["parity_max_abs_diff"] = parity.MaxAbsDiff;
            artifacts["encoder.onnx"] = encoderOnnx;
            artifacts["parity.json"] = parityFile;
            ctx.Log.Info("exported encoder.onnx", new { parity.MaxAbsDiff, parity.Passed });

            // The evaluation baseline: the same architecture at its seeded initialisation, never trained.
            random.manual_seed(ctx.Spec.Optimization.Seed);
            using var untrained = ImageEncoder.Create(trainer.Config);
            untrained.eval();
            var randomOnnx = Path.Combine(output, "encoder-random.onnx");
            ImageEncoderOnnxExporter.Export(untrained, trainer.Config, randomOnnx);
            artifacts["encoder-random.onnx"] = randomOnnx;
        }

        return artifacts;
    }

    /// <summary>The preprocessing sealed into the manifest (mean/std measured on the training split).</summary>
    public static ImagePreprocessing ReadPreprocessing(DatasetManifest manifest)
    {
        if (manifest.Extra is { } extra && extra.TryGetValue("preprocessing", out var element))
        {
            var p = element.Deserialize<ImagePreprocessing>(PipelineJson.Options)!;
            p.Validate();
            return p;
        }

        return new ImagePreprocessing
        {
            Channels = manifest.Channels ?? 1, Height = manifest.Height ?? 28, Width = manifest.Width ?? 28,
            ImageMean = Enumerable.Repeat(0.5, manifest.Channels ?? 1).ToArray(), ImageStd = Enumerable.Repeat(0.5, manifest.Channels ?? 1).ToArray(),
        };
    }

    /// <summary>All images of the given shards as one uint8 tensor [N, C, H, W] (empty when there are none).</summary>
    public static Tensor LoadShards(TrainingContext ctx, IReadOnlyList<ShardInfo> shards, ImagePreprocessing p)
    {
        var parts = new List<byte[]>();
        long count = 0;
        foreach (var shard in shards)
        {
            var data = ImageShard.Read(File.ReadAllBytes(ctx.LocalFile(shard.Path)));
            if (data.Channels != p.Channels || data.Height != p.Height || data.Width != p.Width)
            {
                throw new InvalidDataException($"Shard {shard.Path} is {data.Channels}x{data.Height}x{data.Width}; the manifest says {p.Channels}x{p.Height}x{p.Width}.");
            }

            parts.Add(data.Pixels);
            count += data.Count;
        }

        var all = new byte[parts.Sum(x => (long)x.Length)];
        long offset = 0;
        foreach (var part in parts)
        {
            part.CopyTo(all, offset);
            offset += part.Length;
        }

        return tensor(all, ScalarType.Byte).reshape(count, p.Channels, p.Height, p.Width);
    }
}

/// <summary>config.json of an image model: the architecture, the objective that trained it and the input it expects.</summary>
public sealed record ImageModelConfig(string Objective, ImageEncoderConfig Model, ImagePreprocessing Preprocessing, int Steps, long Seed)
{
    public string Kind => "image";

    public int EmbeddingDim => Model.EmbeddingDim;

    public string Input => ImageEncoderOnnxExporter.PixelValues;

    public string Output => ImageEncoderOnnxExporter.Embedding;
}
