using System.Numerics;
using System.Runtime.InteropServices;

namespace Pipeline.Evaluation.Probe;

/// <summary>
/// Multinomial logistic regression: softmax(W x + b), fitted full-batch with L-BFGS on mean cross-entropy plus
/// (l2 / 2) ||W||^2 (the bias is not penalised). The standard linear-probe classifier on frozen features.
/// </summary>
public sealed class LogisticRegression
{
    private LogisticRegression(int classes, int dimensions, float[] weights, float[] bias)
    {
        Classes = classes;
        Dimensions = dimensions;
        Weights = weights;
        Bias = bias;
    }

    private const int ChunkRows = 256;

    public int Classes { get; }

    public int Dimensions { get; }

    /// <summary>[classes * dimensions], row-major by class.</summary>
    public float[] Weights { get; }

    public float[] Bias { get; }

    public Lbfgs.Outcome? Fit { get; private init; }

    /// <summary>Fits on rows of <paramref name="x"/> with labels 0..classes-1.</summary>
    public static LogisticRegression Train(FeatureMatrix x, IReadOnlyList<int> y, int classes, double l2, Lbfgs.Options? options = null, LogisticRegression? warmStart = null)
    {
        if (x.Rows != y.Count || x.Rows == 0)
        {
            throw new ArgumentException($"{x.Rows} feature rows but {y.Count} labels; both must be equal and non-zero.");
        }

        if (classes < 2 || y.Any(label => label < 0 || label >= classes))
        {
            throw new ArgumentException($"Labels must lie in 0..{classes - 1} with at least 2 classes.");
        }

        if (l2 < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(l2), l2, "The L2 strength must be >= 0.");
        }

        var d = x.Columns;
        var parameters = new double[(classes * d) + classes];
        if (warmStart is not null && warmStart.Classes == classes && warmStart.Dimensions == d)
        {
            for (var i = 0; i < warmStart.Weights.Length; i++)
            {
                parameters[i] = warmStart.Weights[i];
            }

            for (var k = 0; k < classes; k++)
            {
                parameters[(classes * d) + k] = warmStart.Bias[k];
            }
        }

        var w = new float[classes * d];
        var labels = y.ToArray();

        // Fixed-size row chunks, each with its own partial gradient, summed in chunk order: parallel yet bit-for-bit
        // deterministic whatever the core count or scheduling.
        var chunks = (x.Rows + ChunkRows - 1) / ChunkRows;
        var partialW = new float[chunks][];
        var partialB = new double[chunks][];
        var partialLoss = new double[chunks];
        for (var c = 0; c < chunks; c++)
        {
            partialW[c] = new float[classes * d];
            partialB[c] = new double[classes];
        }

        double Objective(ReadOnlySpan<double> p, Span<double> grad)
        {
            for (var i = 0; i < w.Length; i++)
            {
                w[i] = (float)p[i];
            }

            var bias = p.Slice(classes * d, classes).ToArray();
            Parallel.For(0, chunks, c =>
            {
                var gw = partialW[c];
                var gb = partialB[c];
                Array.Clear(gw);
                Array.Clear(gb);
                var logits = new double[classes];
                var loss = 0.0;
                var end = Math.Min(x.Rows, (c + 1) * ChunkRows);
                for (var i = c * ChunkRows; i < end; i++)
                {
                    var row = x.Row(i);
                    var max = double.NegativeInfinity;
                    for (var k = 0; k < classes; k++)
                    {
                        logits[k] = Dot(w.AsSpan(k * d, d), row) + bias[k];
                        max = Math.Max(max, logits[k]);
                    }

                    var sum = 0.0;
                    for (var k = 0; k < classes; k++)
                    {
                        logits[k] = Math.Exp(logits[k] - max);
                        sum += logits[k];
                    }

                    loss -= Math.Log(logits[labels[i]] / sum);
                    for (var k = 0; k < classes; k++)
                    {
                        var residual = (logits[k] / sum) - (k == labels[i] ? 1.0 : 0.0);
                        gb[k] += residual;
                        Axpy((float)residual, row, gw.AsSpan(k * d, d));
                    }
                }

                partialLoss[c] = loss;
            });

            grad.Clear();
            var total = 0.0;
            for (var c = 0; c < chunks; c++)
            {
                total += partialLoss[c];
                var gw = partialW[c];
                for (var i = 0; i < gw.Length; i++)
                {
                    grad[i] += gw[i];
                }

                for (var k = 0; k < classes; k++)
                {
                    grad[(classes * d) + k] += partialB[c][k];
                }
            }

            var n = (double)x.Rows;
            var penalty = 0.0;
            for (var i = 0; i < w.Length; i++)
            {
                grad[i] = (grad[i] / n) + (l2 * p[i]);
                penalty += p[i] * p[i];
            }

            for (var k = 0; k < classes; k++)
            {
                grad[(classes * d) + k] /= n;
            }

            return (total / n) + (0.5 * l2 * penalty);
        }

        var outcome = Lbfgs.Minimize(Objective, parameters, options ?? new Lbfgs.Options());
        var weights = new float[classes * d];
        var bias = new float[classes];
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = (float)parameters[i];
        }

        for (var k = 0; k < classes; k++)
        {
            bias[k] = (float)parameters[(classes * d) + k];
        }

        return new LogisticRegression(classes, d, weights, bias) { Fit = outcome };
    }

    /// <summary>The most probable class of each row.</summary>
    public int[] Predict(FeatureMatrix x)
    {
        var result = new int[x.Rows];
        for (var i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            var best = 0;
            var bestScore = double.NegativeInfinity;
            for (var k = 0; k < Classes; k++)
            {
                var score = Dot(Weights.AsSpan(k * Dimensions, Dimensions), row) + Bias[k];
                if (score > bestScore)
                {
                    bestScore = score;
                    best = k;
                }
            }

            result[i] = best;
        }

        return result;
    }

    public double Accuracy(FeatureMatrix x, IReadOnlyList<int> y)
    {
        var predicted = Predict(x);
        var correct = 0;
        for (var i = 0; i < predicted.Length; i++)
        {
            correct += predicted[i] == y[i] ? 1 : 0;
        }

        return predicted.Length == 0 ? 0 : (double)correct / predicted.Length;
    }

    internal static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector<float>.Zero;
        var va = MemoryMarshal.Cast<float, Vector<float>>(a);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
        for (var i = 0; i < va.Length; i++)
        {
            sum += va[i] * vb[i];
        }

        var result = Vector.Sum(sum);
        for (var i = va.Length * Vector<float>.Count; i < a.Length; i++)
        {
            result += a[i] * b[i];
        }

        return result;
    }

    private static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
        var va = new Vector<float>(alpha);
        for (var i = 0; i < vx.Length; i++)
        {
            vy[i] += va * vx[i];
        }

        for (var i = vx.Length * Vector<float>.Count; i < x.Length; i++)
        {
            y[i] += alpha * x[i];
        }
    }
}
