namespace Pipeline.Evaluation.Probe;

/// <summary>
/// Limited-memory BFGS (Nocedal and Wright, algorithm 7.4) with a backtracking Armijo line search, for smooth convex
/// objectives such as L2-regularised logistic regression. Deterministic: no randomness, fixed arithmetic order.
/// </summary>
public static class Lbfgs
{
    /// <summary>f(x) returning the value and writing the gradient.</summary>
    public delegate double Objective(ReadOnlySpan<double> x, Span<double> gradient);

    public sealed record Options
    {
        public int MaxIterations { get; init; } = 200;

        public int Memory { get; init; } = 10;

        /// <summary>Stops when the gradient's max-norm falls below this.</summary>
        public double GradientTolerance { get; init; } = 1e-4;

        /// <summary>Stops when the relative decrease of f over one iteration falls below this.</summary>
        public double RelativeTolerance { get; init; } = 1e-7;
    }

    public sealed record Outcome(int Iterations, double Value, double GradientNorm, bool Converged);

    /// <summary>Minimises <paramref name="f"/> from <paramref name="x"/> (updated in place).</summary>
    public static Outcome Minimize(Objective f, double[] x, Options options)
    {
        var n = x.Length;
        var m = options.Memory;
        var s = new double[m][];
        var y = new double[m][];
        var rho = new double[m];
        for (var i = 0; i < m; i++)
        {
            s[i] = new double[n];
            y[i] = new double[n];
        }

        var alpha = new double[m];
        var g = new double[n];
        var gNew = new double[n];
        var xNew = new double[n];
        var d = new double[n];
        var value = f(x, g);
        var stored = 0;
        var head = 0;
        for (var iter = 0; iter < options.MaxIterations; iter++)
        {
            var gNorm = MaxAbs(g);
            if (gNorm < options.GradientTolerance)
            {
                return new Outcome(iter, value, gNorm, true);
            }

            // Two-loop recursion: d = -H g.
            for (var i = 0; i < n; i++)
            {
                d[i] = -g[i];
            }

            for (var k = 0; k < stored; k++)
            {
                var j = (head - 1 - k + m) % m;
                alpha[j] = rho[j] * Dot(s[j], d);
                Axpy(-alpha[j], y[j], d);
            }

            var gamma = 1.0;
            if (stored > 0)
            {
                var last = (head - 1 + m) % m;
                gamma = Dot(s[last], y[last]) / Dot(y[last], y[last]);
            }
            else
            {
                gamma = 1.0 / Math.Max(1.0, Math.Sqrt(Dot(g, g)));
            }

            for (var i = 0; i < n; i++)
            {
                d[i] *= gamma;
            }

            for (var k = stored - 1; k >= 0; k--)
            {
                var j = (head - 1 - k + m) % m;
                var beta = rho[j] * Dot(y[j], d);
                Axpy(alpha[j] - beta, s[j], d);
            }

            var slope = Dot(g, d);
            if (slope >= 0)
            {
                // Not a descent direction (curvature info went stale): restart from steepest descent.
                stored = 0;
                for (var i = 0; i < n; i++)
                {
                    d[i] = -g[i] / Math.Max(1.0, Math.Sqrt(Dot(g, g)));
                }

                slope = Dot(g, d);
            }

            var step = 1.0;
            double newValue;
            var accepted = false;
            for (var ls = 0; ; ls++)
            {
                for (var i = 0; i < n; i++)
                {
                    xNew[i] = x[i] + (step * d[i]);
                }

                newValue = f(xNew, gNew);
                if (newValue <= value + (1e-4 * step * slope))
                {
                    accepted = true;
                    break;
                }

                if (ls >= 40)
                {
                    break;
                }

                step *= 0.5;
            }

            if (!accepted)
            {
                return new Outcome(iter, value, gNorm, false);
            }

            var slot = s[head];
            var yslot = y[head];
            for (var i = 0; i < n; i++)
            {
                slot[i] = xNew[i] - x[i];
                yslot[i] = gNew[i] - g[i];
            }

            var sy = Dot(slot, yslot);
            if (sy > 1e-12)
            {
                rho[head] = 1.0 / sy;
                head = (head + 1) % m;
                stored = Math.Min(stored + 1, m);
            }

            var previous = value;
            Array.Copy(xNew, x, n);
            Array.Copy(gNew, g, n);
            value = newValue;
            if (Math.Abs(previous - value) <= options.RelativeTolerance * Math.Max(1.0, Math.Abs(previous)))
            {
                return new Outcome(iter + 1, value, MaxAbs(g), true);
            }
        }

        return new Outcome(options.MaxIterations, value, MaxAbs(g), false);
    }

    private static double Dot(double[] a, double[] b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static void Axpy(double a, double[] x, double[] y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            y[i] += a * x[i];
        }
    }

    private static double MaxAbs(double[] v)
    {
        var max = 0.0;
        foreach (var value in v)
        {
            max = Math.Max(max, Math.Abs(value));
        }

        return max;
    }
}
