using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>
/// NT-Xent (SimCLR): for 2N projections, each view's positive is the other view of the same image and the 2N-2 other
/// views are negatives; cross-entropy over cosine similarities divided by the temperature, averaged over all 2N.
/// </summary>
public static class NtXentLoss
{
    /// <param name="z1">[N, D] projections of the first views.</param>
    /// <param name="z2">[N, D] projections of the second views (row i pairs with row i of z1).</param>
    public static Tensor Compute(Tensor z1, Tensor z2, double temperature)
    {
        using var scope = NewDisposeScope();
        var n = z1.shape[0];
        var z = nn.functional.normalize(cat([z1, z2], 0), p: 2, dim: 1);
        var logits = z.matmul(z.t()) / temperature;
        // A view is never its own negative: remove the diagonal from the softmax.
        logits = logits.masked_fill(eye(2 * n, dtype: ScalarType.Bool, device: z.device), double.NegativeInfinity);
        var targets = cat([arange(n, 2 * n, device: z.device), arange(0, n, device: z.device)], 0);
        return nn.functional.cross_entropy(logits, targets).MoveToOuterDisposeScope();
    }

    /// <summary>Fraction of first views whose most similar second view is their own pair (a validation metric).</summary>
    public static double TopOneAccuracy(Tensor e1, Tensor e2)
    {
        using var scope = NewDisposeScope();
        var similarity = nn.functional.normalize(e1, p: 2, dim: 1).matmul(nn.functional.normalize(e2, p: 2, dim: 1).t());
        var predicted = similarity.argmax(1);
        return predicted.eq(arange(e1.shape[0], device: e1.device)).to_type(ScalarType.Float64).mean().item<double>();
    }
}
