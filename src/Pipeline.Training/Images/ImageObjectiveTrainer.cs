using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Storage;
using Pipeline.Evaluation.Data;
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
        // The checkpoint store is the only record of progress. The scratch folder may hold checkpoints of another job
        // with the same run and job ids (a fresh storage account, a new demo), which must never be resumed.
        foreach (var stale in new[] { checkpointFolder, restoreFolder }.Where(Directory.Exists))
        {
            Directory.Delete(stale, recursive: true);
        }

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

        using var monitor = settings.Knn is { Labeled.Length: > 0 } knnSettings ? await LoadMonitorAsync(ctx, knnSettings, preprocessing, ct).ConfigureAwait(false) : null;
        var total = ctx.Spec.Optimization.Steps;
        var started = DateTimeOffset.UtcNow;
        Func<double>? timeProgress = ctx.Deadline is { } deadline && deadline > started
            ? () => (DateTimeOffset.UtcNow - started) / (deadline - started)
            : null;
        var result = trainer.Train(
            train, validation, checkpointFolder,
            log: message => ctx.Log.Info(message),
            onCheckpoint: (folder, s) => ctx.Checkpoints.SaveAsync(s, folder, ct),
            stop: () => ctx.DeadlineReached,
            onStep: (s, loss) => ctx.Progress.Report(s, total, loss),
            cancellationToken: ct,
            monitor: monitor,
            onKnn: (s, accuracy) => ctx.Log.Info("knn accuracy", new { step = s, knn_accuracy = accuracy, labeled = settings.Knn!.Labeled, k = monitor!.K, bank = monitor.BankSize, queries = monitor.QuerySize }),
            timeProgress: timeProgress);
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

        var knn = result.KnnAccuracy;
        if (knn.Count > 0)
        {
            metrics["knn_accuracy"] = knn[^1].Value;
            metrics["knn_accuracy_initial"] = knn[0].Value;
            var curve = Path.Combine(output, "knn-accuracy.json");
            File.WriteAllText(curve, JsonSerializer.Serialize(knn.Select(p => new { step = p.Step, knn_accuracy = p.Value }), PipelineJson.Options));
            artifacts["knn-accuracy.json"] = curve;
        }

        var lossCurve = Path.Combine(output, "loss-curve.png");
        LossCurvePlot.Save(
            lossCurve, $"{objective} {ctx.Spec.RunId}/{ctx.Spec.JobId}", result.Losses, [],
            metric: knn.Count > 0 ? ("kNN accuracy (labelled monitor)", [.. knn.Select(p => new LossPoint(p.Step, p.Value))]) : null);
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

    /// <summary>
    /// Downloads labeled/{task}/ and builds the kNN monitor. The labelled set is optional equipment: when it is
    /// missing or does not match the dataset's image shape, the job logs why and trains unmonitored.
    /// </summary>
    private static async Task<KnnMonitor?> LoadMonitorAsync(TrainingContext ctx, KnnMonitorSettings settings, ImagePreprocessing preprocessing, CancellationToken ct)
    {
        if (ctx.Storage is null)
        {
            ctx.Log.Warn("knn monitoring skipped: no storage to read the labelled set from", new { settings.Labeled });
            return null;
        }

        var task = settings.Labeled.Trim('/');
        var folder = Path.Combine(ctx.WorkFolder, "labeled", task);
        var names = await ctx.Storage.ListAsync(BlobLayout.Labeled, task + "/", ct).ConfigureAwait(false);
        if (names.Count == 0)
        {
            ctx.Log.Warn("knn monitoring skipped: the labelled set is empty or missing", new { labeled = $"{BlobLayout.Labeled}/{task}/" });
            return null;
        }

        foreach (var name in names)
        {
            var local = Path.Combine(folder, name[(task.Length + 1)..].Replace('/', Path.DirectorySeparatorChar));
            await ctx.Storage.DownloadAsync(new BlobPath(BlobLayout.Labeled, name), local, ct).ConfigureAwait(false);
        }

        var data = LabeledDataLoader.Load(folder, task);
        var monitor = KnnMonitor.FromLabeled(data, preprocessing, settings, out var reason);
        if (monitor is null)
        {
            ctx.Log.Warn("knn monitoring skipped", new { labeled = task, reason });
            return null;
        }

        ctx.Log.Info("knn monitoring", new { labeled = task, bank = monitor.BankSize, queries = monitor.QuerySize, k = monitor.K, every = monitor.Every });
        return monitor;
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
