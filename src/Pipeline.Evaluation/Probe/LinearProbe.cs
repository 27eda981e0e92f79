using Pipeline.Inference.Heads;

namespace Pipeline.Evaluation.Probe;

/// <summary>Linear-probe settings: the L2 grid searched by stratified k-fold cross-validation on the labelled draw.</summary>
public sealed record LinearProbeOptions
{
    /// <summary>L2 strengths tried (on mean cross-entropy); the best by cross-validated accuracy wins, ties to the larger.</summary>
    public IReadOnlyList<double> L2Grid { get; init; } = [1e-1, 1e-2, 1e-3, 1e-4];

    /// <summary>Used when the draw is too small to cross-validate (fewer than 2 examples in some class).</summary>
    public double DefaultL2 { get; init; } = 1e-2;

    public int Folds { get; init; } = 3;

    /// <summary>Standardise features on the training rows (off for TF-IDF, which is already L2-normalised and sparse).</summary>
    public bool Standardize { get; init; } = true;

    public Lbfgs.Options Optimizer { get; init; } = new();

    public LinearProbeOptions Validate()
    {
        if (L2Grid.Count == 0 || L2Grid.Any(l => l < 0) || DefaultL2 < 0)
        {
            throw new ArgumentException("The probe's L2 grid needs at least one value, all >= 0.");
        }

        if (Folds < 2)
        {
            throw new ArgumentException("The probe needs at least 2 cross-validation folds.");
        }

        return this;
    }
}

/// <summary>A fitted probe: standardisation + logistic regression, with the L2 strength it chose.</summary>
public sealed class LinearProbe
{
    private LinearProbe(Standardizer standardizer, LogisticRegression model, double l2)
    {
        Standardizer = standardizer;
        Model = model;
        L2 = l2;
    }

    public Standardizer Standardizer { get; }

    public LogisticRegression Model { get; }

    public double L2 { get; }

    /// <summary>Fits the probe; <paramref name="seed"/> only decides the cross-validation folds.</summary>
    public static LinearProbe Fit(FeatureMatrix x, IReadOnlyList<int> y, int classes, LinearProbeOptions options, int seed)
    {
        options.Validate();
        var l2 = SelectL2(x, y, classes, options, seed);
        var standardizer = options.Standardize ? Standardizer.Fit(x) : Standardizer.Identity(x.Columns);
        var model = LogisticRegression.Train(standardizer.Transform(x), y, classes, l2, options.Optimizer);
        return new LinearProbe(standardizer, model, l2);
    }

    public int[] Predict(FeatureMatrix x) => Model.Predict(Standardizer.Transform(x));

    public double Accuracy(FeatureMatrix x, IReadOnlyList<int> y) => Model.Accuracy(Standardizer.Transform(x), y);

    /// <summary>
    /// The probe as classifier.json for the inference service: standardisation folded into the weights
    /// (W' = W / std, b' = b - W' mean), so the head applies to the raw served embedding.
    /// </summary>
    public LinearHead ToLinearHead(IReadOnlyList<string> labels)
    {
        if (labels.Count != Model.Classes)
        {
            throw new ArgumentException($"The probe has {Model.Classes} classes but {labels.Count} label names were given.");
        }

        var d = Model.Dimensions;
        var weights = new List<float[]>(Model.Classes);
        var bias = new float[Model.Classes];
        for (var k = 0; k < Model.Classes; k++)
        {
            var row = new float[d];
            double shift = 0;
            for (var j = 0; j < d; j++)
            {
                row[j] = Model.Weights[(k * d) + j] / Standardizer.Scale[j];
                shift += (double)row[j] * Standardizer.Mean[j];
            }

            weights.Add(row);
            bias[k] = (float)(Model.Bias[k] - shift);
        }

        return new LinearHead { Labels = [.. labels], Weights = weights, Bias = bias, NormalizeInput = false };
    }

    private static double SelectL2(FeatureMatrix x, IReadOnlyList<int> y, int classes, LinearProbeOptions options, int seed)
    {
        if (options.L2Grid.Count == 1)
        {
            return options.L2Grid[0];
        }

        var perClass = new int[classes];
        foreach (var label in y)
        {
            perClass[label]++;
        }

        var folds = Math.Min(options.Folds, perClass.Where(c => c > 0).DefaultIfEmpty(0).Min());
        if (folds < 2)
        {
            return options.DefaultL2;
        }

        var fold = StratifiedFolds(y, classes, folds, seed);
        var grid = options.L2Grid.OrderByDescending(l => l).ToArray();
        var correct = new int[grid.Length];
        for (var f = 0; f < folds; f++)
        {
            var train = Enumerable.Range(0, y.Count).Where(i => fold[i] != f).ToArray();
            var test = Enumerable.Range(0, y.Count).Where(i => fold[i] == f).ToArray();
            var xTrain = x.Select(train);
            var standardizer = options.Standardize ? Standardizer.Fit(xTrain) : Standardizer.Identity(x.Columns);
            xTrain = standardizer.Transform(xTrain);
            var xTest = standardizer.Transform(x.Select(test));
            var yTrain = train.Select(i => y[i]).ToArray();
            var yTest = test.Select(i => y[i]).ToArray();
            LogisticRegression? previous = null;
            for (var g = 0; g < grid.Length; g++)
            {
                // Strong to weak penalty with warm starts: each fit starts near its answer.
                previous = LogisticRegression.Train(xTrain, yTrain, classes, grid[g], options.Optimizer, previous);
                var predicted = previous.Predict(xTest);
                for (var i = 0; i < predicted.Length; i++)
                {
                    correct[g] += predicted[i] == yTest[i] ? 1 : 0;
                }
            }
        }

        var best = 0;
        for (var g = 1; g < grid.Length; g++)
        {
            if (correct[g] > correct[best])
            {
                best = g;
            }
        }

        return grid[best];
    }

    /// <summary>Fold index per example: each class shuffled (seeded) and dealt round-robin.</summary>
    internal static int[] StratifiedFolds(IReadOnlyList<int> y, int classes, int folds, int seed)
    {
        var random = new Random(seed);
        var fold = new int[y.Count];
        for (var c = 0; c < classes; c++)
        {
            var members = Enumerable.Range(0, y.Count).Where(i => y[i] == c).ToArray();
            random.Shuffle(members);
            for (var i = 0; i < members.Length; i++)
            {
                fold[members[i]] = i % folds;
            }
        }

        return fold;
    }
}
