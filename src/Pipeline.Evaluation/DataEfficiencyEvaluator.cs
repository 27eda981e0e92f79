using System.Diagnostics;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Features;
using Pipeline.Evaluation.Probe;
using Pipeline.Evaluation.Reporting;
using Pipeline.Inference.Heads;

namespace Pipeline.Evaluation;

/// <summary>One encoder's frozen features for the training pool and the test split.</summary>
public sealed record EncoderFeatures(string Name, FeatureMatrix Train, FeatureMatrix Test, bool Standardize = true);

/// <summary>The report, and the pretrained encoder's probe at the largest budget as a servable classify head.</summary>
public sealed record DataEfficiencyResult(DataEfficiencyReport Report, LinearHead? Classifier);

/// <summary>
/// Measures how much pretraining helps with few labels: embeds the labelled set with the exported encoder.onnx (and
/// encoder-random.onnx, the same architecture at initialisation) through ONNX Runtime, builds the raw-feature baseline
/// (TF-IDF for text, pixels for images), then fits a linear probe per encoder on seeded stratified label draws at each
/// budget and scores it on the fixed test split.
/// </summary>
public sealed class DataEfficiencyEvaluator(DataEfficiencyOptions options)
{
    public const string EncoderFile = "encoder.onnx";
    public const string RandomEncoderFile = "encoder-random.onnx";

    private readonly DataEfficiencyOptions _options = options.Validate();

    /// <summary>Evaluates the encoder files in <paramref name="modelDirectory"/> (a downloaded model or job output).</summary>
    public DataEfficiencyResult Evaluate(LabeledDataset data, string modelDirectory, IProgress<string>? progress = null)
    {
        data.Validate();
        var features = new List<EncoderFeatures> { Embed(EncoderNames.Pretrained, data, modelDirectory, EncoderFile, progress) };
        if (_options.RandomInitBaseline && File.Exists(Path.Combine(modelDirectory, RandomEncoderFile)))
        {
            features.Add(Embed(EncoderNames.RandomInit, data, modelDirectory, RandomEncoderFile, progress));
        }

        if (_options.RawFeatureBaseline)
        {
            features.Add(RawFeatures(data, _options.TfIdfFeatures));
        }

        return EvaluateFeatures(data, features, progress);
    }

    /// <summary>The raw-feature baseline for the set's modality: TF-IDF (text) or pixels (images).</summary>
    public static EncoderFeatures RawFeatures(LabeledDataset data, int tfIdfFeatures = 4096)
    {
        if (data.Modality == Modality.Text)
        {
            var vectorizer = TfIdfVectorizer.Fit(data.Train.Texts!, tfIdfFeatures);
            return new EncoderFeatures(EncoderNames.TfIdf, vectorizer.Transform(data.Train.Texts!), vectorizer.Transform(data.Test.Texts!), Standardize: false);
        }

        return new EncoderFeatures(EncoderNames.Pixels, RawPixels.Transform(data.Train.Images!), RawPixels.Transform(data.Test.Images!));
    }

    /// <summary>Probes precomputed features; the first entry is the one whose probe becomes classifier.json.</summary>
    public DataEfficiencyResult EvaluateFeatures(LabeledDataset data, IReadOnlyList<EncoderFeatures> features, IProgress<string>? progress = null)
    {
        if (features.Count == 0)
        {
            throw new ArgumentException("No encoder features to probe.");
        }

        foreach (var f in features)
        {
            if (f.Train.Rows != data.Train.Count || f.Test.Rows != data.Test.Count)
            {
                throw new ArgumentException($"Features '{f.Name}' have {f.Train.Rows}/{f.Test.Rows} rows; the set has {data.Train.Count}/{data.Test.Count}.");
            }
        }

        var classes = data.ClassNames.Count;
        var budgets = _options.Budgets.Select(LabelBudget.Parse).ToArray();
        var results = new List<ProbeResult>();
        LinearProbe? headProbe = null;
        var headLabels = -1;
        for (var b = 0; b < budgets.Length; b++)
        {
            var budget = budgets[b];
            var draws = Enumerable.Range(0, _options.Draws).Select(d => budget.Draw(data.Train.Labels, classes, DrawSeed(b, d))).ToArray();
            foreach (var f in features)
            {
                var watch = Stopwatch.StartNew();
                var accuracies = new List<double>();
                var l2 = new List<double>();
                for (var d = 0; d < draws.Length; d++)
                {
                    var y = draws[d].Select(i => data.Train.Labels[i]).ToArray();
                    var probe = LinearProbe.Fit(f.Train.Select(draws[d]), y, classes, _options.Probe with { Standardize = f.Standardize }, DrawSeed(b, d));
                    accuracies.Add(probe.Accuracy(f.Test, data.Test.Labels));
                    l2.Add(probe.L2);
                    if (f == features[0] && d == 0 && draws[d].Length > headLabels)
                    {
                        headProbe = probe;
                        headLabels = draws[d].Length;
                    }
                }

                var result = new ProbeResult
                {
                    Encoder = f.Name,
                    Budget = budget.ToString(),
                    BudgetKey = budget.Key,
                    Labels = draws[0].Length,
                    Accuracies = accuracies,
                    L2 = l2,
                };
                results.Add(result);
                progress?.Report($"{f.Name} @ {budget} ({result.Labels} labels): {result.Mean * 100:0.0} ± {result.Std * 100:0.0}% [{watch.Elapsed.TotalSeconds:0.0}s]");
            }
        }

        var report = new DataEfficiencyReport
        {
            Task = data.Task,
            Modality = data.Modality.ToString().ToLowerInvariant(),
            Classes = data.ClassNames,
            TrainPool = data.Train.Count,
            TestExamples = data.Test.Count,
            Draws = _options.Draws,
            Seed = _options.Seed,
            Encoders = [.. features.Select(f => f.Name)],
            Results = results,
        };
        return new DataEfficiencyResult(report, headProbe?.ToLinearHead(data.ClassNames));
    }

    private int DrawSeed(int budget, int draw) => unchecked((_options.Seed * 7919) + (budget * 1009) + draw);

    private EncoderFeatures Embed(string name, LabeledDataset data, string modelDirectory, string file, IProgress<string>? progress)
    {
        var watch = Stopwatch.StartNew();
        using var encoder = OnnxEncoder.Open(modelDirectory, file, data.Modality, _options.Threads);
        var train = encoder.Embed(data.Train);
        var test = encoder.Embed(data.Test);
        progress?.Report($"embedded {data.Train.Count + data.Test.Count} examples with {file} ({train.Columns} dims) in {watch.Elapsed.TotalSeconds:0.0}s");
        return new EncoderFeatures(name, train, test);
    }
}
