using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>A self-supervised image objective: its head, its loss on a batch of raw images, and its validation metric.</summary>
public interface IImagePretext
{
    /// <summary>The trainable head on top of the encoder (projection head or rotation classifier); dropped at export.</summary>
    nn.Module<Tensor, Tensor> Head { get; }

    string MetricName { get; }

    bool HigherIsBetter { get; }

    /// <param name="images">A batch in [0, 1], [B, C, H, W].</param>
    Tensor Loss(ImageEncoder encoder, Tensor images, PixelNormalizer normalizer, Generator generator);

    /// <summary>The validation metric on held-out images in [0, 1] (model in eval mode, fixed randomness).</summary>
    double Validate(ImageEncoder encoder, Tensor images, PixelNormalizer normalizer);
}

/// <summary>pixel_values = (x - mean) / std per channel, with x = byte / 255 (preprocessing.json).</summary>
public sealed class PixelNormalizer(IReadOnlyList<double> mean, IReadOnlyList<double> std)
{
    private readonly float[] _mean = [.. mean.Select(m => (float)m)];
    private readonly float[] _std = [.. std.Select(s => (float)s)];

    public Tensor Apply(Tensor x01)
    {
        using var scope = NewDisposeScope();
        var m = tensor(_mean).reshape(1, -1, 1, 1).to(x01.device);
        var s = tensor(_std).reshape(1, -1, 1, 1).to(x01.device);
        return ((x01 - m) / s).MoveToOuterDisposeScope();
    }
}

/// <summary>SimCLR: two augmented views per image, projection head, NT-Xent; validated by contrastive top-1 accuracy.</summary>
public sealed class SimClrPretext(ImageEncoderConfig model, AugmentationOptions augmentation, double temperature) : IImagePretext
{
    /// <summary>Validation compares each image's view against this many candidates (the other images' views).</summary>
    public const int ValidationCandidates = 256;

    public nn.Module<Tensor, Tensor> Head { get; } = new ProjectionHead(model.EmbeddingDim, model.ProjectionHidden, model.ProjectionDim);

    public string MetricName => "contrastive_top1";

    public bool HigherIsBetter => true;

    public Tensor Loss(ImageEncoder encoder, Tensor images, PixelNormalizer normalizer, Generator generator)
    {
        using var scope = NewDisposeScope();
        var views = Views(images, generator, normalizer);
        var z = Head.forward(encoder.forward(views));
        var n = images.shape[0];
        return NtXentLoss.Compute(z[..(int)n], z[(int)n..], temperature).MoveToOuterDisposeScope();
    }

    /// <summary>Both views of every image, stacked [2B, C, H, W] and normalised (first views first).</summary>
    public Tensor Views(Tensor images, Generator generator, PixelNormalizer normalizer)
    {
        using var scope = NewDisposeScope();
        var v1 = Augmentations.Apply(images, augmentation, generator);
        var v2 = Augmentations.Apply(images, augmentation, generator);
        return normalizer.Apply(cat([v1, v2], 0)).MoveToOuterDisposeScope();
    }

    public double Validate(ImageEncoder encoder, Tensor images, PixelNormalizer normalizer)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var generator = SeededGenerator.Create(20260101, images.device);
        double correct = 0;
        long total = 0;
        for (long start = 0; start + 2 <= images.shape[0]; start += ValidationCandidates)
        {
            var chunk = images.narrow(0, start, Math.Min(images.shape[0] - start, ValidationCandidates));
            var e = encoder.forward(Views(chunk, generator, normalizer));
            var n = chunk.shape[0];
            correct += NtXentLoss.TopOneAccuracy(e[..(int)n], e[(int)n..]) * n;
            total += n;
        }

        return total == 0 ? 0 : correct / total;
    }
}

/// <summary>RotNet: each image at 0/90/180/270 degrees, a linear classifier predicts which; validated by its accuracy.</summary>
public sealed class RotationPretext(ImageEncoderConfig model, AugmentationOptions augmentation) : IImagePretext
{
    public nn.Module<Tensor, Tensor> Head { get; } = nn.Linear(model.EmbeddingDim, 4);

    public string MetricName => "rotation_accuracy";

    public bool HigherIsBetter => true;

    public Tensor Loss(ImageEncoder encoder, Tensor images, PixelNormalizer normalizer, Generator generator)
    {
        using var scope = NewDisposeScope();
        var (rotated, labels) = Rotate(Augmentations.Apply(images, augmentation, generator));
        var logits = Head.forward(encoder.forward(normalizer.Apply(rotated)));
        return nn.functional.cross_entropy(logits, labels).MoveToOuterDisposeScope();
    }

    public double Validate(ImageEncoder encoder, Tensor images, PixelNormalizer normalizer)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double correct = 0;
        long total = 0;
        for (long start = 0; start < images.shape[0]; start += 256)
        {
            var (rotated, labels) = Rotate(images.narrow(0, start, Math.Min(images.shape[0] - start, 256)));
            var predicted = Head.forward(encoder.forward(normalizer.Apply(rotated))).argmax(1);
            correct += predicted.eq(labels).sum().item<long>();
            total += labels.shape[0];
        }

        return total == 0 ? 0 : correct / total;
    }

    /// <summary>The batch at 0, 90, 180 and 270 degrees (square images), with labels 0..3.</summary>
    public static (Tensor Images, Tensor Labels) Rotate(Tensor images)
    {
        var n = images.shape[0];
        var rotated = cat([.. Enumerable.Range(0, 4).Select(k => images.rot90(k, (2, 3)))], 0);
        var labels = arange(4, dtype: ScalarType.Int64, device: images.device).repeat_interleave(n);
        return (rotated, labels);
    }
}
