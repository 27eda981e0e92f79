namespace Pipeline.Inference;

/// <summary>The few vector operations serving needs; vectors here are a few hundred floats.</summary>
public static class VectorMath
{
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * (double)b[i];
        }

        return (float)sum;
    }

    public static float Norm(ReadOnlySpan<float> v) => MathF.Sqrt(Dot(v, v));

    public static void NormalizeInPlace(Span<float> v)
    {
        var norm = Norm(v);
        if (norm > 1e-12f)
        {
            for (var i = 0; i < v.Length; i++)
            {
                v[i] /= norm;
            }
        }
    }

    public static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var na = Norm(a);
        var nb = Norm(b);
        return na <= 1e-12f || nb <= 1e-12f ? 0f : Dot(a, b) / (na * nb);
    }

    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        var max = float.NegativeInfinity;
        foreach (var x in logits)
        {
            max = Math.Max(max, x);
        }

        var result = new float[logits.Length];
        double sum = 0;
        for (var i = 0; i < logits.Length; i++)
        {
            result[i] = MathF.Exp(logits[i] - max);
            sum += result[i];
        }

        for (var i = 0; i < result.Length; i++)
        {
            result[i] = (float)(result[i] / sum);
        }

        return result;
    }
}
