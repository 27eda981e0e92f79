using System.Text;
using System.Text.Json;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Core.Text;
using Pipeline.Ingestion.Text;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Hosting;

/// <summary>
/// Embedded defaults for `pipeline demo` and the end-to-end tests: a small generated English corpus and a tiny MLM
/// sweep that trains, exports and passes parity in about a minute on two CPU cores, and the demo's recipes for the
/// shipped WordNet gloss and Fashion-MNIST samples.
/// </summary>
public static class DemoDefaults
{
    private static readonly string[] Subjects =
    [
        "the farmer", "a young girl", "the old sailor", "my neighbour", "the teacher", "a tired doctor", "the baker",
        "our captain", "the little dog", "a grey cat", "the king", "the miller", "her brother", "the student",
    ];

    private static readonly string[] Verbs =
    [
        "carried", "found", "painted", "sold", "watched", "repaired", "lost", "opened", "followed", "cleaned",
        "counted", "borrowed", "planted", "described",
    ];

    private static readonly string[] Objects =
    [
        "a wooden boat", "the red door", "three apples", "an old map", "the heavy box", "a small garden",
        "the broken clock", "fresh bread", "a silver key", "the long road", "warm blankets", "the village well",
    ];

    private static readonly string[] Places =
    [
        "near the river", "before sunrise", "in the market", "after the storm", "behind the church", "on the hill",
        "during the winter", "at the harbour", "in the forest", "by the mill",
    ];

    /// <summary>Deterministic sentences, one paragraph per line group, split over <paramref name="files"/> files.</summary>
    public static IReadOnlyList<(string Name, string Text)> Corpus(int files = 4, int sentencesPerFile = 150, int seed = 7)
    {
        var rng = new Random(seed);
        var result = new List<(string, string)>();
        for (var f = 0; f < files; f++)
        {
            var sb = new StringBuilder();
            for (var i = 0; i < sentencesPerFile; i++)
            {
                var s = $"{Subjects[rng.Next(Subjects.Length)]} {Verbs[rng.Next(Verbs.Length)]} {Objects[rng.Next(Objects.Length)]} {Places[rng.Next(Places.Length)]}.";
                sb.Append(char.ToUpperInvariant(s[0])).Append(s.AsSpan(1)).Append(i % 5 == 4 ? "\n\n" : " ");
            }

            result.Add(($"part-{f:000}.txt", sb.ToString()));
        }

        return result;
    }

    /// <summary>Vocabulary and split small enough for the corpus above.</summary>
    public static TextSealOptions TextSeal { get; } = new()
    {
        Vocabulary = new WordPieceTrainerOptions { VocabSize = 200, MinFrequency = 2 },
        ValidationFraction = 0.2,
    };

    /// <summary>A tiny encoder, a few dozen steps: enough to show the loss fall and to prove export parity.</summary>
    public static TrainingConfig TinyMlm(int steps = 40, int threads = 2) => new()
    {
        Name = "tiny",
        Objective = Objectives.Mlm,
        TextModel = new TextEncoderConfig { Hidden = 32, Layers = 2, Heads = 2, Intermediate = 64, MaxPositions = 64, Dropout = 0.0, AttentionDropout = 0.0 },
        Optimization = new OptimizationOptions
        {
            Steps = steps, BatchSize = 16, LearningRate = 1e-3, WarmupSteps = 5, CheckpointEvery = 10, EvalEvery = 20, LogEvery = 10,
        },
        Settings = JsonSerializer.SerializeToElement(new { sequenceLength = 32, validationBatches = 2, maxMinutes = 5 }),
        Threads = threads,
        Device = "cpu",
    };

    /// <summary>Vocabulary for the shipped WordNet gloss sample (about 6,000 glosses, 100k words).</summary>
    public static TextSealOptions GlossSeal { get; } = new()
    {
        Vocabulary = new WordPieceTrainerOptions { VocabSize = 3000, MinFrequency = 2 },
        ValidationFraction = 0.05,
    };

    /// <summary>
    /// The demo's MLM job on the WordNet gloss sample: a small encoder, short sequences (glosses are short), and the
    /// recipe of bench/mlm-quality and bench/data-efficiency (AdamW beta2 0.98, 20% masking, linear decay over the
    /// wall-clock budget <paramref name="maxMinutes"/>; <paramref name="steps"/> is only a cap), with a higher peak
    /// learning rate (1e-3) and a shorter warm-up (50 steps) for the short budget. Dropout stays at 0.1: the sample is
    /// small (about 6,000 glosses) and the job sees it many times. Sentence embeddings are the masked means of the
    /// embedding layer and of the last layer, side by side.
    /// </summary>
    public static TrainingConfig GlossMlm(int steps = 100_000, double maxMinutes = 2.5, int threads = 2) => new()
    {
        Name = "gloss",
        Objective = Objectives.Mlm,
        TextModel = new TextEncoderConfig { Hidden = 128, Layers = 2, Heads = 4, Intermediate = 512, MaxPositions = 64, Dropout = 0.1, AttentionDropout = 0.1, Pooling = TextPooling.MeanFirstLast },
        Optimization = new OptimizationOptions
        {
            Steps = steps, BatchSize = 32, LearningRate = 1e-3, Beta2 = 0.98, WarmupSteps = 50, Schedule = "linear", WeightDecay = 0.01,
            CheckpointEvery = 200, EvalEvery = 200, LogEvery = 20,
        },
        Settings = JsonSerializer.SerializeToElement(new { sequenceLength = 48, validationBatches = 4, maxMinutes, masking = new { maskProbability = 0.2 } }),
        Threads = threads,
        Device = "cpu",
    };

    /// <summary>The demo's orchestration: the gloss MLM job, and the downstream evaluation at 1%, 10% and all labels.</summary>
    public static PipelineOptions GlossPipeline(int steps = 100_000, double maxMinutes = 2.5, int threads = 2) => new()
    {
        TextSeal = GlossSeal,
        TextSweep = [GlossMlm(steps, maxMinutes, threads)],
        EvaluationBudgets = ["1%", "10%", "100%"],
        EvaluationDraws = 3,
        JobPollInterval = TimeSpan.FromSeconds(1),
        JobMaxPollInterval = TimeSpan.FromSeconds(2),
        JobTimeout = TimeSpan.FromMinutes(10),
    };

    /// <summary>The unlabelled image dataset (and labelled task) of the demo: unlabeled/fashion-mnist/, labeled/fashion-mnist/.</summary>
    public const string ImageDataset = "fashion-mnist";

    /// <summary>
    /// The demo's SimCLR job on the shipped Fashion-MNIST sample: ImageRecipes.FashionMnist (src/Pipeline.Training/Images,
    /// written out here because orchestration does not load TorchSharp; a test checks the two agree): 3-block CNN
    /// 32-64-128, projection head 128-128-64, NT-Xent t=0.5, crop scale 0.2-1, flip, brightness/contrast jitter, no
    /// blur, AdamW 2e-3 with cosine decay over <paramref name="maxMinutes"/> (the step cap is out of reach on purpose:
    /// the clock ends training at the bottom of its schedule). kNN accuracy on labeled/fashion-mnist/ is logged every
    /// 200 steps; the objective never reads the labels.
    /// </summary>
    public static TrainingConfig FashionMnistSimClr(double maxMinutes = 2.0, int threads = 2, int batchSize = 256) => new()
    {
        Name = "small-cnn",
        Objective = Objectives.SimClr,
        Optimization = new OptimizationOptions
        {
            Steps = 100_000, BatchSize = batchSize, LearningRate = 2e-3, WeightDecay = 1e-4, WarmupSteps = 50, Schedule = "cosine",
            GradientClip = 1.0, Seed = 1, CheckpointEvery = 200, EvalEvery = 200, LogEvery = 50,
        },
        Settings = JsonSerializer.SerializeToElement(new
        {
            maxMinutes,
            model = new { architecture = "small-cnn", convChannels = new[] { 32, 64, 128 }, projectionHidden = 128, projectionDim = 64 },
            augmentation = new { minScale = 0.2, blurProbability = 0.0 },
            temperature = 0.5,
            scheduleByTime = true,
            knn = new { labeled = ImageDataset, every = 200, k = 20, bankImages = 2000, queryImages = 500 },
        }),
        Threads = threads,
        Device = "cpu",
    };

    /// <summary>
    /// The demo's orchestration for both halves: the gloss MLM job for text datasets, the Fashion-MNIST SimCLR job for
    /// image datasets (PlanTrainingJobs picks the sweep by the sealed manifest's kind), and the downstream evaluation at
    /// 1%, 10% and all labels of the gloss sample, and 1%, 5% and 10% of the 2,000 labelled images (20, 100, 200 labels;
    /// all 2,000 would cost the pixel probe minutes on two cores).
    /// </summary>
    public static PipelineOptions SamplesPipeline(int textSteps = 100_000, double textMinutes = 2.5, double imageMinutes = 2.0, int threads = 2) =>
        GlossPipeline(textSteps, textMinutes, threads) with
        {
            ImageSweep = [FashionMnistSimClr(imageMinutes, threads)],
            ImageEvaluationBudgets = ["1%", "5%", "10%"],
        };

    /// <summary>Orchestration settings for a quick local run.</summary>
    public static PipelineOptions Pipeline(int steps = 40, int threads = 2) => new()
    {
        TextSeal = TextSeal,
        TextSweep = [TinyMlm(steps, threads)],
        JobPollInterval = TimeSpan.FromSeconds(1),
        JobMaxPollInterval = TimeSpan.FromSeconds(2),
        JobTimeout = TimeSpan.FromMinutes(10),
    };
}
