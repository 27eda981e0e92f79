using System.Globalization;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Probe;
using Pipeline.Training.Images;
using static TorchSharp.torch;

/// <summary>
/// quality <dir> <minutes> <threads> <batch> <k>: SimCLR-pretrains on the 60k Fashion-MNIST training images (labels
/// never read by the objective) for at most <minutes> (the learning rate decays over that time budget), then measures
/// the trained encoder and the same encoder at its random initialisation:
///  - kNN accuracy on the 10k test images (cosine, k neighbours among the 60k training images, weighted votes);
///  - the linear probe of bench/data-efficiency (1% of the training labels = 600, 3 seeded draws, standardised
///    features, L2 by cross-validation) against raw pixels under the same probe and draws.
/// Prints "QUALITY knn_acc=<k> random_init_knn_acc=<r> probe_1pct_pretrained=.. probe_1pct_random_init=.. probe_1pct_pixels=.. steps=<n>".
/// The recipe (model and augmentation) is ImageRecipes.FashionMnist unless overridden by SC_* variables (experiments).
/// </summary>
internal static class QualityBench
{
    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var dir = args[0];
        var minutes = double.Parse(args[1], inv);
        var threads = int.Parse(args[2], inv);
        var batch = int.Parse(args[3], inv);
        var k = int.Parse(args[4], inv);
        set_num_threads(threads);
        var labeled = LabeledDataLoader.Load(dir, "fashion-mnist");
        using var train = Stack(labeled.Train.Images!);
        using var test = Stack(labeled.Test.Images!);

        var preprocessing = new ImagePreprocessing { ImageMean = [0.286], ImageStd = [0.353] };
        var (settings, optimization) = Recipe(batch);
        Console.WriteLine($"recipe: {System.Text.Json.JsonSerializer.Serialize(settings)} {System.Text.Json.JsonSerializer.Serialize(optimization)}");
        using var trainer = new ImagePretrainer(Objectives.SimClr, settings, optimization, preprocessing);
        var normalizer = new PixelNormalizer(preprocessing.ImageMean, preprocessing.ImageStd);
        using var monitor = new KnnMonitor(train, labeled.Train.Labels, test, labeled.Test.Labels, classes: 10, k: k, every: int.MaxValue);
        var randomFeatures = Features("random_init", trainer.Encoder, normalizer, train, test);

        // The clock starts with the first optimizer step (the random-init kNN measurement before it is not training).
        DateTime? start = null;
        var budget = TimeSpan.FromMinutes(minutes);
        var work = Path.Combine(Path.GetTempPath(), $"simclr-quality-{Environment.ProcessId}");
        var result = trainer.Train(
            train, test.narrow(0, 0, 512), work, log: Console.WriteLine,
            onStep: (_, _) => start ??= DateTime.UtcNow,
            monitor: monitor, onKnn: (s, a) => Console.WriteLine(string.Create(inv, $"step {s}: knn_acc={a:F4}")),
            timeProgress: () => start is { } t ? (DateTime.UtcNow - t) / budget : 0);
        Directory.Delete(work, recursive: true);
        var random = result.KnnAccuracy[0].Value;
        var trained = result.KnnAccuracy[^1].Value;

        var pretrainedFeatures = Features("pretrained", trainer.Encoder, normalizer, train, test);
        var evaluator = new DataEfficiencyEvaluator(new DataEfficiencyOptions { Budgets = ["1%"], Draws = 3, Threads = threads });
        var report = evaluator.EvaluateFeatures(labeled, [pretrainedFeatures, randomFeatures, DataEfficiencyEvaluator.RawFeatures(labeled)], new Progress<string>(Console.WriteLine)).Report;
        var probes = string.Join(' ', report.Results.Select(r => string.Create(inv, $"probe_1pct_{r.Encoder}={r.Mean:F4}")));
        Console.WriteLine(string.Create(inv, $"QUALITY knn_acc={trained:F4} random_init_knn_acc={random:F4} {probes} steps={result.Steps} contrastive_top1={result.ValidationValue:F4}"));
        return 0;
    }

    /// <summary>The bench recipe: ImageRecipes.FashionMnist, with SC_* environment overrides for experiments.</summary>
    private static (ImagePretrainingSettings, OptimizationOptions) Recipe(int batch)
    {
        var (settings, optimization) = ImageRecipes.FashionMnist(steps: 1_000_000, batch);
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        double D(string name, double fallback) => Env(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var model = settings.Model;
        if (Env("SC_CHANNELS") is { } channels)
        {
            model = model with { ConvChannels = [.. channels.Split(',').Select(int.Parse)] };
        }

        if (Env("SC_PROJ") is { } proj)
        {
            var p = proj.Split(',').Select(int.Parse).ToArray();
            model = model with { ProjectionHidden = p[0], ProjectionDim = p[1] };
        }

        var augmentation = settings.Augmentation!;
        augmentation = augmentation with
        {
            MinScale = D("SC_MINSCALE", augmentation.MinScale),
            ColorJitterStrength = D("SC_JITTER", augmentation.ColorJitterStrength),
        };
        settings = settings with { Model = model, Augmentation = augmentation, Temperature = D("SC_TEMP", settings.Temperature) };
        optimization = optimization with
        {
            Steps = (int)D("SC_STEPS", optimization.Steps),
            LearningRate = D("SC_LR", optimization.LearningRate),
            WeightDecay = D("SC_WD", optimization.WeightDecay),
            LogEvery = 100,
        };
        return (settings, optimization);
    }

    private static EncoderFeatures Features(string name, ImageEncoder encoder, PixelNormalizer normalizer, Tensor train, Tensor test)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        encoder.eval();
        try
        {
            return new EncoderFeatures(name, Embed(encoder, normalizer, train), Embed(encoder, normalizer, test));
        }
        finally
        {
            encoder.train();
        }
    }

    private static FeatureMatrix Embed(ImageEncoder encoder, PixelNormalizer normalizer, Tensor pixels)
    {
        var parts = new List<float[]>();
        long columns = 0;
        for (long start = 0; start < pixels.shape[0]; start += 1000)
        {
            var x = pixels.narrow(0, start, Math.Min(1000, pixels.shape[0] - start)).to_type(ScalarType.Float32) / 255f;
            var e = encoder.forward(normalizer.Apply(x)).contiguous();
            columns = e.shape[1];
            parts.Add(e.data<float>().ToArray());
        }

        return new FeatureMatrix((int)pixels.shape[0], (int)columns, [.. parts.SelectMany(p => p)]);
    }

    private static Tensor Stack(IReadOnlyList<byte[]> images)
    {
        var size = images[0].Length;
        var all = new byte[images.Count * size];
        for (var i = 0; i < images.Count; i++)
        {
            images[i].CopyTo(all, i * size);
        }

        return tensor(all, ScalarType.Byte).reshape(images.Count, 1, 28, 28);
    }
}
