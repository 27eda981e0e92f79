using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>
/// One view's augmentation, with the SimCLR / lightly defaults as named options. Every random number comes from the
/// generator passed in, so a (seed, step) pair reproduces a batch of views exactly (that is what makes resume exact).
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>RandomResizedCrop area range and aspect-ratio range (torchvision defaults).</summary>
    public double MinScale { get; init; } = 0.08;

    public double MaxScale { get; init; } = 1.0;

    public double MinRatio { get; init; } = 3.0 / 4.0;

    public double MaxRatio { get; init; } = 4.0 / 3.0;

    public double HorizontalFlipProbability { get; init; } = 0.5;

    /// <summary>Colour jitter applied with this probability; factors are Strength x (brightness, contrast, saturation, hue).</summary>
    public double ColorJitterProbability { get; init; } = 0.8;

    public double ColorJitterStrength { get; init; } = 0.8;

    public double Brightness { get; init; } = 0.8;

    public double Contrast { get; init; } = 0.8;

    public double Saturation { get; init; } = 0.8;

    public double Hue { get; init; } = 0.2;

    /// <summary>RGB only: convert to grey with this probability.</summary>
    public double GrayscaleProbability { get; init; } = 0.2;

    /// <summary>Gaussian blur probability and sigma range; the kernel is about 10% of the image side (odd, >= 3).</summary>
    public double BlurProbability { get; init; } = 0.5;

    public double MinBlurSigma { get; init; } = 0.1;

    public double MaxBlurSigma { get; init; } = 2.0;

    /// <summary>SimCLR defaults for a dataset of small grey images (blur off: a 3-pixel kernel on 28x28 erases strokes).</summary>
    public static AugmentationOptions SmallGrey { get; } = new() { MinScale = 0.2, BlurProbability = 0.0 };

    /// <summary>Rotation prediction: mild crops and flips only, so the rotation stays the thing to predict.</summary>
    public static AugmentationOptions Rotation { get; } = new()
    {
        MinScale = 0.6, ColorJitterProbability = 0.0, GrayscaleProbability = 0.0, BlurProbability = 0.0,
    };
}

/// <summary>Batched, seeded tensor augmentations on images in [0, 1], shape [B, C, H, W].</summary>
public static class Augmentations
{
    private const double BtR = 0.299, BtG = 0.587, BtB = 0.114;

    public static Tensor Apply(Tensor images, AugmentationOptions o, Generator generator)
    {
        using var scope = NewDisposeScope();
        var x = RandomResizedCropAndFlip(images, o, generator);
        if (o.ColorJitterProbability > 0)
        {
            x = ColorJitter(x, o, generator);
        }

        if (x.shape[1] == 3 && o.GrayscaleProbability > 0)
        {
            var grey = Luma(x).expand_as(x);
            x = where(Coin(x.shape[0], o.GrayscaleProbability, generator, x), grey, x);
        }

        if (o.BlurProbability > 0)
        {
            x = GaussianBlur(x, o, generator);
        }

        return x.MoveToOuterDisposeScope();
    }

    /// <summary>One affine grid per image: crop of random area and aspect, random position, optional mirror.</summary>
    private static Tensor RandomResizedCropAndFlip(Tensor images, AugmentationOptions o, Generator generator)
    {
        using var scope = NewDisposeScope();
        var b = images.shape[0];
        var u = rand([b, 5], dtype: ScalarType.Float64, generator: generator);
        var scale = (u[.., 0] * (o.MaxScale - o.MinScale)) + o.MinScale;
        var logRatio = (u[.., 1] * (Math.Log(o.MaxRatio) - Math.Log(o.MinRatio))) + Math.Log(o.MinRatio);
        var ratio = logRatio.exp();
        // Width and height as fractions of the image side; clamped instead of torchvision's retry loop.
        var w = (scale * ratio).sqrt().clamp_max(1.0);
        var h = (scale / ratio).sqrt().clamp_max(1.0);
        var cx = ((u[.., 2] * (1 - w)) + (w / 2)) * 2 - 1;
        var cy = ((u[.., 3] * (1 - h)) + (h / 2)) * 2 - 1;
        var flip = where(u[.., 4] < o.HorizontalFlipProbability, -1.0, 1.0);
        var zeros = zeros_like(w);
        var theta = stack([stack([w * flip, zeros, cx], 1), stack([zeros, h, cy], 1)], 1).to_type(images.dtype);
        var grid = nn.functional.affine_grid(theta, [.. images.shape], align_corners: false);
        return nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Reflection, align_corners: false)
            .MoveToOuterDisposeScope();
    }

    private static Tensor ColorJitter(Tensor x, AugmentationOptions o, Generator generator)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var s = o.ColorJitterStrength;
        var u = rand([b, 4], dtype: x.dtype, generator: generator);
        var apply = Coin(b, o.ColorJitterProbability, generator, x);
        var y = x;
        var brightness = Factor(u[.., 0], s * o.Brightness);
        y = (y * brightness).clamp(0, 1);
        var contrast = Factor(u[.., 1], s * o.Contrast);
        var meanGrey = Luma(y).mean([1, 2, 3], keepdim: true);
        y = ((y * contrast) + (meanGrey * (1 - contrast))).clamp(0, 1);
        if (x.shape[1] == 3)
        {
            var saturation = Factor(u[.., 2], s * o.Saturation);
            y = ((y * saturation) + (Luma(y) * (1 - saturation))).clamp(0, 1);
            y = HueShift(y, ((u[.., 3] * 2) - 1) * (s * o.Hue)).clamp(0, 1);
        }

        return where(apply, y, x).MoveToOuterDisposeScope();
    }

    /// <summary>Hue rotation in YIQ space: a per-image 3x3 colour matrix (a close, differentiable stand-in for HSV).</summary>
    private static Tensor HueShift(Tensor x, Tensor hue)
    {
        using var scope = NewDisposeScope();
        var toYiq = tensor(new double[,] { { 0.299, 0.587, 0.114 }, { 0.596, -0.274, -0.322 }, { 0.211, -0.523, 0.312 } }).to_type(x.dtype);
        var fromYiq = toYiq.inverse();
        var angle = hue * (2 * Math.PI);
        var (cos, sin) = (angle.cos(), angle.sin());
        var one = ones_like(cos);
        var zero = zeros_like(cos);
        var rotation = stack([stack([one, zero, zero], 1), stack([zero, cos, -sin], 1), stack([zero, sin, cos], 1)], 1);
        var matrix = fromYiq.matmul(rotation).matmul(toYiq); // [B, 3, 3]
        var b = x.shape[0];
        var flat = x.reshape(b, 3, -1);
        return matrix.bmm(flat).reshape(x.shape).MoveToOuterDisposeScope();
    }

    private static Tensor GaussianBlur(Tensor x, AugmentationOptions o, Generator generator)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var k = Math.Max(3, (int)(Math.Min(h, w) * 0.1) | 1);
        var u = rand([b, 1], dtype: x.dtype, generator: generator);
        var sigma = (u * (o.MaxBlurSigma - o.MinBlurSigma)) + o.MinBlurSigma;
        var apply = Coin(b, o.BlurProbability, generator, x).reshape(b, 1);
        var offsets = arange(-(k / 2), (k / 2) + 1, dtype: x.dtype).reshape(1, k);
        var kernel = (-(offsets * offsets) / (2 * sigma * sigma)).exp();
        kernel = kernel / kernel.sum(1, keepdim: true);
        // Images that are not blurred get the identity kernel, so one grouped convolution serves the whole batch.
        var identity = zeros(1, k, dtype: x.dtype);
        identity[0, k / 2] = 1;
        kernel = where(apply, kernel, identity).repeat_interleave(c, 0); // [B*C, k]
        var planes = nn.functional.pad(x.reshape(1, b * c, h, w), [k / 2, k / 2, k / 2, k / 2], PaddingModes.Reflect);
        var rows = nn.functional.conv2d(planes, kernel.reshape(b * c, 1, 1, k), groups: b * c);
        var both = nn.functional.conv2d(rows, kernel.reshape(b * c, 1, k, 1), groups: b * c);
        return both.reshape(b, c, h, w).MoveToOuterDisposeScope();
    }

    private static Tensor Luma(Tensor x) => x.shape[1] == 1 ? x : ((x[.., 0..1] * BtR) + (x[.., 1..2] * BtG) + (x[.., 2..3] * BtB));

    /// <summary>A factor uniform in [max(0, 1 - s), 1 + s], shaped to broadcast over [B, C, H, W].</summary>
    private static Tensor Factor(Tensor u, double s)
    {
        var low = Math.Max(0, 1 - s);
        return ((u * (1 + s - low)) + low).reshape(-1, 1, 1, 1);
    }

    private static Tensor Coin(long batch, double p, Generator generator, Tensor like) =>
        rand([batch], dtype: like.dtype, generator: generator).lt(p).reshape(-1, 1, 1, 1);
}

/// <summary>Seeded torch generators from the signed seeds job specs carry.</summary>
public static class SeededGenerator
{
    public static Generator Create(long seed, Device? device = null)
    {
        var generator = new Generator(0, device ?? CPU);
        generator.manual_seed(seed);
        return generator;
    }
}
