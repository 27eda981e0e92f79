namespace Pipeline.Evaluation.Probe;

/// <summary>
/// Per-feature (x - mean) / std fitted on the probe's training rows only, so the L2 penalty treats every feature
/// alike. Constant features keep std 1 (they carry no signal and must not blow up).
/// </summary>
public sealed record Standardizer(float[] Mean, float[] Scale)
{
    public static Standardizer Fit(FeatureMatrix x)
    {
        var d = x.Columns;
        var mean = new double[d];
        var sq = new double[d];
        for (var i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            for (var j = 0; j < d; j++)
            {
                mean[j] += row[j];
            }
        }

        for (var j = 0; j < d; j++)
        {
            mean[j] /= Math.Max(1, x.Rows);
        }

        for (var i = 0; i < x.Rows; i++)
        {
            var row = x.Row(i);
            for (var j = 0; j < d; j++)
            {
                var diff = row[j] - mean[j];
                sq[j] += diff * diff;
            }
        }

        var scale = new float[d];
        for (var j = 0; j < d; j++)
        {
            var std = Math.Sqrt(sq[j] / Math.Max(1, x.Rows));
            scale[j] = std > 1e-6 ? (float)std : 1f;
        }

        return new Standardizer([.. mean.Select(m => (float)m)], scale);
    }

    /// <summary>Identity transform (for features that are already comparable, such as L2-normalised TF-IDF).</summary>
    public static Standardizer Identity(int columns)
    {
        var scale = new float[columns];
        Array.Fill(scale, 1f);
        return new Standardizer(new float[columns], scale);
    }

    public FeatureMatrix Transform(FeatureMatrix x)
    {
        var result = new FeatureMatrix(x.Rows, x.Columns);
        for (var i = 0; i < x.Rows; i++)
        {
            var src = x.Row(i);
            var dst = result.Row(i);
            for (var j = 0; j < x.Columns; j++)
            {
                dst[j] = (src[j] - Mean[j]) / Scale[j];
            }
        }

        return result;
    }
}
