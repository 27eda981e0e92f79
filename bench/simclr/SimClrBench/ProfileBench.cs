using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Ingestion.Images;
using Pipeline.Training.Images;
using static TorchSharp.torch;

/// <summary>
/// profile <idx images> <threads> <steps> <batch>: where a SimCLR step's time goes (batch gather, augmentation,
/// forward + loss, backward, clip + AdamW), in ms per step, measured phase by phase on the pipeline's own classes.
/// </summary>
internal static class ProfileBench
{
    public static int Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        var (path, threads, steps, batch) = (args[0], int.Parse(args[1], inv), int.Parse(args[2], inv), int.Parse(args[3], inv));
        set_num_threads(threads);
        set_num_interop_threads(1);
        var (rows, cols, images) = IdxImages.Read(path, 10000);
        var pixels = new byte[images.Count * rows * cols];
        for (var i = 0; i < images.Count; i++)
        {
            images[i].CopyTo(pixels, i * rows * cols);
        }

        using var train = tensor(pixels, ScalarType.Byte).reshape(images.Count, 1, rows, cols);
        var settings = new ImagePretrainingSettings { Model = new ImageEncoderConfig { ConvChannels = [32, 64], ProjectionHidden = 128, ProjectionDim = 64 }, Temperature = 0.5 };
        var optimization = new OptimizationOptions { Steps = steps, BatchSize = batch, LearningRate = 1e-3, WeightDecay = 0.01, GradientClip = 1.0, Seed = 1 };
        var preprocessing = new ImagePreprocessing { ImageMean = [0.286], ImageStd = [0.353] };
        using var trainer = new ImagePretrainer(Objectives.SimClr, settings, optimization, preprocessing);
        var simclr = (SimClrPretext)trainer.Pretext;
        var normalizer = new PixelNormalizer(preprocessing.ImageMean, preprocessing.ImageStd);
        var parameters = trainer.Encoder.parameters().Concat(simclr.Head.parameters()).ToArray();
        var names = new[] { "batch", "augment", "forward+loss", "backward", "clip", "adamw" };
        var totals = new double[names.Length];
        var clock = new Stopwatch();
        for (var step = 0; step < steps; step++)
        {
            var t = new double[names.Length];
            using var scope = NewDisposeScope();
            Lap(clock);
            var x = trainer.Batch(train, step, batch);
            t[0] = Lap(clock);
            using var generator = SeededGenerator.Create(step + 1);
            var views = simclr.Views(x, generator, normalizer);
            t[1] = Lap(clock);
            trainer.Optimizer.zero_grad();
            var z = simclr.Head.forward(trainer.Encoder.forward(views));
            var loss = NtXentLoss.Compute(z[..batch], z[batch..], 0.5);
            t[2] = Lap(clock);
            loss.backward();
            t[3] = Lap(clock);
            nn.utils.clip_grad_norm_(parameters, 1.0);
            t[4] = Lap(clock);
            trainer.Optimizer.step();
            t[5] = Lap(clock);
            if (step >= 3)
            {
                for (var i = 0; i < t.Length; i++)
                {
                    totals[i] += t[i];
                }
            }
        }

        var n = Math.Max(1, steps - 3);
        Console.WriteLine(string.Join(' ', names.Select((name, i) => string.Create(inv, $"{name}={totals[i] / n:F1}ms"))) +
            string.Create(inv, $" total={totals.Sum() / n:F1}ms images_per_s={batch * n * 1000 / totals.Sum():F1}"));
        return 0;
    }

    // Process CPU time, not wall time: on a shared machine it is what the step itself costs (1 thread: one core).
    private static TimeSpan _last;

    private static double Lap(Stopwatch clock)
    {
        var now = Process.GetCurrentProcess().TotalProcessorTime;
        var ms = (now - _last).TotalMilliseconds;
        _last = now;
        clock.Restart();
        return ms;
    }
}
