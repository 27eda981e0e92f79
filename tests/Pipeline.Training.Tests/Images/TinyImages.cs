using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Training.Images;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Images;

/// <summary>Small synthetic image sets and configs that keep each test to a few seconds.</summary>
internal static class TinyImages
{
    public static readonly ImagePreprocessing Grey16 = new() { Channels = 1, Height = 16, Width = 16, ImageMean = [0.3], ImageStd = [0.4] };

    public static ImagePretrainingSettings Settings(double temperature = 0.5) => new()
    {
        Model = new ImageEncoderConfig { ConvChannels = [8, 16], ProjectionHidden = 32, ProjectionDim = 16 },
        Temperature = temperature,
        ValidationImages = 64,
    };

    public static OptimizationOptions Optimization(int steps, int checkpointEvery = 1000) => new()
    {
        Steps = steps, BatchSize = 32, LearningRate = 3e-3, WarmupSteps = 2, CheckpointEvery = checkpointEvery, Seed = 11, LogEvery = 1000,
    };

    /// <summary>uint8 [n, 1, 16, 16]: each image a bright bar (one of 4 orientations/positions) plus a blob, on noise.</summary>
    public static Tensor Bars(int n, int seed) => Bars(n, seed, out _);

    /// <summary>As <see cref="Bars(int, int)"/>, with each image's class: the bar's orientation (0..3).</summary>
    public static Tensor Bars(int n, int seed, out int[] labels)
    {
        labels = new int[n];
        var random = new Random(seed);
        var pixels = new byte[n * 16 * 16];
        for (var i = 0; i < n; i++)
        {
            var image = pixels.AsSpan(i * 256, 256);
            for (var p = 0; p < 256; p++)
            {
                image[p] = (byte)random.Next(0, 40);
            }

            var kind = random.Next(4);
            labels[i] = kind;
            var at = random.Next(2, 12);
            for (var t = 0; t < 16; t++)
            {
                var (y, x) = kind switch { 0 => (at, t), 1 => (t, at), 2 => (t, t), _ => (t, 15 - t) };
                image[(y * 16) + x] = 230;
            }

            var (by, bx) = (random.Next(1, 6), random.Next(1, 6));
            for (var dy = 0; dy < 3; dy++)
            {
                for (var dx = 0; dx < 3; dx++)
                {
                    image[((by + dy) * 16) + bx + dx] = 180;
                }
            }
        }

        return tensor(pixels, ScalarType.Byte).reshape(n, 1, 16, 16);
    }
}
