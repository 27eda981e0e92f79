using Pipeline.Evaluation.Probe;

namespace Pipeline.Tests.Evaluation;

public sealed class LinearProbeTests
{
    [Fact]
    public void Lbfgs_finds_the_minimum_of_an_ill_conditioned_quadratic()
    {
        // f(x) = sum_i c_i (x_i - i)^2 with condition number 1e3.
        double[] c = [1, 10, 100, 1000];
        var x = new double[4];
        var outcome = Lbfgs.Minimize(
            (p, g) =>
            {
                var f = 0.0;
                for (var i = 0; i < p.Length; i++)
                {
                    f += c[i] * (p[i] - i) * (p[i] - i);
                    g[i] = 2 * c[i] * (p[i] - i);
                }

                return f;
            },
            x,
            new Lbfgs.Options { GradientTolerance = 1e-8, RelativeTolerance = 0 });
        Assert.True(outcome.Converged);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(i, x[i], 5);
        }
    }

    [Fact]
    public void Logistic_regression_recovers_separable_blobs_on_held_out_points()
    {
        var (x, y) = SyntheticData.Blobs(perClass: 60, classes: 4, dims: 6, seed: 1, separation: 5);
        var (xTest, yTest) = SyntheticData.Blobs(perClass: 100, classes: 4, dims: 6, seed: 2, separation: 5);
        var model = LogisticRegression.Train(x, y, classes: 4, l2: 1e-3);
        Assert.True(model.Fit!.Converged, $"L-BFGS stopped after {model.Fit.Iterations} iterations, |g| {model.Fit.GradientNorm}");
        Assert.True(model.Accuracy(xTest, yTest) > 0.97, $"accuracy {model.Accuracy(xTest, yTest)}");

        // The weight of each class's own axis dominates its row: the probe found the true structure.
        for (var k = 0; k < 4; k++)
        {
            var row = model.Weights.AsSpan(k * 6, 6).ToArray();
            Assert.Equal(k, Array.IndexOf(row, row.Max()));
        }
    }

    [Fact]
    public void Stronger_l2_shrinks_the_weights()
    {
        var (x, y) = SyntheticData.Blobs(perClass: 30, classes: 3, dims: 5, seed: 4);
        var weak = LogisticRegression.Train(x, y, 3, 1e-4);
        var strong = LogisticRegression.Train(x, y, 3, 1.0);
        static double Norm(float[] w) => Math.Sqrt(w.Sum(v => (double)v * v));
        Assert.True(Norm(strong.Weights) < Norm(weak.Weights) / 3, $"{Norm(strong.Weights)} vs {Norm(weak.Weights)}");
    }

    [Fact]
    public void Probe_is_deterministic_and_its_classifier_head_matches_it_on_raw_features()
    {
        // Features on very different scales and offsets: standardisation matters, and must be folded into the head.
        var (x, y) = SyntheticData.Blobs(perClass: 40, classes: 3, dims: 4, seed: 9);
        for (var i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            row[0] = (row[0] * 1000) + 50;
            row[3] = (row[3] * 0.001f) - 7;
        }

        var options = new LinearProbeOptions();
        var probe = LinearProbe.Fit(x, y, 3, options, seed: 11);
        var again = LinearProbe.Fit(x, y, 3, options, seed: 11);
        Assert.Equal(probe.Model.Weights, again.Model.Weights);
        Assert.Equal(probe.L2, again.L2);
        Assert.Contains(probe.L2, options.L2Grid);

        var head = probe.ToLinearHead(["a", "b", "c"]);
        var predicted = probe.Predict(x);
        for (var i = 0; i < x.Rows; i++)
        {
            var p = head.Predict(x.Row(i));
            Assert.Equal(predicted[i], Array.IndexOf(p, p.Max()));
        }

        Assert.True(probe.Accuracy(x, y) > 0.9);
    }
}
