using System.Globalization;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Probe;
using Pipeline.Inference;
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
/// Experiment switches (src/Pipeline.Training/Images/README.md has the trials they produced):
///  - SC_OBJECTIVE=rotation pretrains with rotation prediction (its own mild augmentations) instead of SimCLR;
///  - SC_READOUTS=fc1,l2,bnclean also probes other read-outs of both encoders: the projection head's first layer after
///    its ReLU (SimCLRv2-style), the L2-normalised embedding, and the embedding after BatchNorm statistics are
///    re-estimated on the clean training images;
///  - SC_SUPERVISED=<steps> is a ceiling, not a pretraining: it trains the same architecture with the 60k training labels
///    (cross-entropy, Adam 2e-3, batch <batch>, no augmentation) and probes its features like a pretrained encoder's.
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
        var rotation = Environment.GetEnvironmentVariable("SC_OBJECTIVE") == "rotation";
        using var trainer = rotation
            ? new ImagePretrainer(Objectives.Rotation, settings with { Augmentation = AugmentationOptions.Rotation }, optimization, preprocessing)
            : new ImagePretrainer(Objectives.SimClr, settings, optimization, preprocessing);
        var normalizer = new PixelNormalizer(preprocessing.ImageMean, preprocessing.ImageStd);
        var readOuts = (Environment.GetEnvironmentVariable("SC_READOUTS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var randomFeatures = ReadOuts("random_init", trainer, normalizer, train, test, readOuts);
        if (Environment.GetEnvironmentVariable("SC_SUPERVISED") is { Length: > 0 } supervisedSteps)
        {
            TrainSupervised(trainer, normalizer, train, labeled.Train.Labels, int.Parse(supervisedSteps, inv), batch);
            var supervised = ReadOuts("supervised", trainer, normalizer, train, test, readOuts);
            PrintProbes(labeled, [supervised[0], randomFeatures[0], DataEfficiencyEvaluator.RawFeatures(labeled), .. supervised.Skip(1), .. randomFeatures.Skip(1)], threads, "");
            return 0;
        }

        using var monitor = new KnnMonitor(train, labeled.Train.Labels, test, labeled.Test.Labels, classes: 10, k: k, every: int.MaxValue);

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

        var pretrained = ReadOuts("pretrained", trainer, normalizer, train, test, readOuts);
        PrintProbes(
            labeled, [pretrained[0], randomFeatures[0], DataEfficiencyEvaluator.RawFeatures(labeled), .. pretrained.Skip(1), .. randomFeatures.Skip(1)], threads,
            string.Create(inv, $"knn_acc={trained:F4} random_init_knn_acc={random:F4} "),
            string.Create(inv, $" steps={result.Steps} {trainer.Pretext.MetricName}={result.ValidationValue:F4}"));
        return 0;
    }

    /// <summary>The 1% probe (3 draws) of every feature set; prints "QUALITY [prefix]probe_1pct_name=.. ..[suffix]".</summary>
    private static void PrintProbes(LabeledDataset labeled, IReadOnlyList<EncoderFeatures> features, int threads, string prefix, string suffix = "")
    {
        var evaluator = new DataEfficiencyEvaluator(new DataEfficiencyOptions { Budgets = ["1%"], Draws = 3, Threads = threads });
        var report = evaluator.EvaluateFeatures(labeled, features, new Progress<string>(Console.WriteLine)).Report;
        var probes = string.Join(' ', report.Results.Select(r => string.Create(CultureInfo.InvariantCulture, $"probe_1pct_{r.Encoder}={r.Mean:F4}")));
        Console.WriteLine($"QUALITY {prefix}{probes}{suffix}");
    }

    /// <summary>SC_SUPERVISED: the architecture's ceiling with labels (cross-entropy on a linear layer, seeded batches).</summary>
    private static void TrainSupervised(ImagePretrainer trainer, PixelNormalizer normalizer, Tensor train, IReadOnlyList<int> labels, int steps, int batch)
    {
        random.manual_seed(7);
        using var classifier = nn.Linear(trainer.Config.EmbeddingDim, 10);
        using var optimizer = optim.Adam(trainer.Encoder.parameters().Concat(classifier.parameters()), 2e-3);
        using var targets = tensor(labels.Select(l => (long)l).ToArray());
        var draw = new Random(3);
        trainer.Encoder.train();
        for (var step = 1; step <= steps; step++)
        {
            using var scope = NewDisposeScope();
            var index = tensor(Enumerable.Range(0, batch).Select(_ => (long)draw.Next((int)train.shape[0])).ToArray());
            var x = normalizer.Apply(train.index_select(0, index).to_type(ScalarType.Float32) / 255f);
            var loss = nn.functional.cross_entropy(classifier.forward(trainer.Encoder.forward(x)), targets.index_select(0, index));
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            if (step % 100 == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"supervised step {step}/{steps} loss {loss.item<float>():F4}"));
            }
        }
    }

    /// <summary>The embedding of the encoder as it is now, then each SC_READOUTS variant, named "{name}_{variant}".</summary>
    private static List<EncoderFeatures> ReadOuts(string name, ImagePretrainer trainer, PixelNormalizer normalizer, Tensor train, Tensor test, string[] variants)
    {
        var plain = Features(name, trainer.Encoder, normalizer, train, test);
        var all = new List<EncoderFeatures> { plain };
        foreach (var variant in variants)
        {
            switch (variant)
            {
                case "l2":
                    all.Add(new EncoderFeatures($"{name}_l2", L2Normalised(plain.Train), L2Normalised(plain.Test)));
                    break;
                case "fc1" when trainer.Pretext.Head is ProjectionHead head:
                    all.Add(Features($"{name}_fc1", trainer.Encoder, normalizer, train, test, head));
                    break;
                case "bnclean":
                    // On a copy: the encoder being trained keeps its own statistics.
                    using (var copy = ImageEncoder.Create(trainer.Config))
                    {
                        copy.load_state_dict(trainer.Encoder.state_dict());
                        RecalibrateBatchNorm(copy, normalizer, train);
                        all.Add(Features($"{name}_bnclean", copy, normalizer, train, test));
                    }

                    break;
                default:
                    throw new ArgumentException($"Unknown SC_READOUTS entry '{variant}' (fc1 needs SimCLR's head); use fc1, l2 or bnclean.");
            }
        }

        return all;
    }

    /// <summary>Replaces every BatchNorm's running statistics by their average over the clean (unaugmented) images.</summary>
    private static void RecalibrateBatchNorm(ImageEncoder encoder, PixelNormalizer normalizer, Tensor images)
    {
        using var noGrad = no_grad();
        foreach (var bn in encoder.modules().OfType<TorchSharp.Modules.BatchNorm2d>())
        {
            bn.reset_running_stats();
            bn.momentum = null; // cumulative average over the batches below
        }

        encoder.train();
        for (long start = 0; start < images.shape[0]; start += 1000)
        {
            using var scope = NewDisposeScope();
            encoder.forward(normalizer.Apply(images.narrow(0, start, Math.Min(1000, images.shape[0] - start)).to_type(ScalarType.Float32) / 255f));
        }

        encoder.eval();
    }

    private static FeatureMatrix L2Normalised(FeatureMatrix m)
    {
        var normalised = new FeatureMatrix(m.Rows, m.Columns, (float[])m.Data.Clone());
        for (var i = 0; i < m.Rows; i++)
        {
            VectorMath.NormalizeInPlace(normalised.Row(i));
        }

        return normalised;
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
            MinRatio = 1 / D("SC_MAXRATIO", augmentation.MaxRatio),
            MaxRatio = D("SC_MAXRATIO", augmentation.MaxRatio),
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

    private static EncoderFeatures Features(string name, ImageEncoder encoder, PixelNormalizer normalizer, Tensor train, Tensor test, ProjectionHead? head = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        encoder.eval();
        try
        {
            head?.eval();
            return new EncoderFeatures(name, Embed(encoder, normalizer, train, head), Embed(encoder, normalizer, test, head));
        }
        finally
        {
            encoder.train();
            head?.train();
        }
    }

    /// <summary>Embeddings in batches of 1000; with a head, relu(head.fc1(embedding)) instead.</summary>
    private static FeatureMatrix Embed(ImageEncoder encoder, PixelNormalizer normalizer, Tensor pixels, ProjectionHead? head)
    {
        var parts = new List<float[]>();
        long columns = 0;
        for (long start = 0; start < pixels.shape[0]; start += 1000)
        {
            var x = pixels.narrow(0, start, Math.Min(1000, pixels.shape[0] - start)).to_type(ScalarType.Float32) / 255f;
            var e = encoder.forward(normalizer.Apply(x));
            e = (head is null ? e : nn.functional.relu(head.fc1.forward(e))).contiguous();
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
