using Pipeline.Core.Jobs;
using Pipeline.Testing;
using Pipeline.Training.Images;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Images;

public class ImagePretrainingTests
{
    [Fact]
    public void Nt_xent_matches_the_value_worked_out_by_hand()
    {
        // Views a=e1, b=e2 and their pairs c=e1, d=e2, temperature 1: for a, sim(b)=0, sim(c)=1 (positive), sim(d)=0,
        // so each of the 4 terms is -log(e / (1 + e + 1)) = log(2 + e) - 1.
        using var z = tensor(new float[] { 1, 0, 0, 1 }).reshape(2, 2);
        using var loss = NtXentLoss.Compute(z, z, 1.0);
        Assert.Equal(Math.Log(2 + Math.E) - 1, loss.item<float>(), 5);

        // Scaled, non-unit vectors and temperature 0.5: against a direct double-precision evaluation.
        using var z1 = tensor(new float[] { 3, 1, -1, 2, 0.5f, 0.5f }).reshape(3, 2);
        using var z2 = tensor(new float[] { 2, 2, -2, 1, 1, -1 }).reshape(3, 2);
        using var loss2 = NtXentLoss.Compute(z1, z2, 0.5);
        Assert.Equal(ReferenceNtXent([[3, 1], [-1, 2], [0.5, 0.5]], [[2, 2], [-2, 1], [1, -1]], 0.5), loss2.item<float>(), 5);
    }

    [Fact]
    public void Augmentations_repeat_exactly_for_a_seed_and_differ_across_seeds()
    {
        using var images = TinyImages.Bars(8, 1).to_type(ScalarType.Float32) / 255f;
        var options = new AugmentationOptions { BlurProbability = 0.5 };
        using var a = Augmentations.Apply(images, options, SeededGenerator.Create(5));
        using var b = Augmentations.Apply(images, options, SeededGenerator.Create(5));
        using var c = Augmentations.Apply(images, options, SeededGenerator.Create(6));

        Assert.Equal(0f, (a - b).abs().max().item<float>());
        Assert.False(a.allclose(c));
        Assert.Equal(images.shape, a.shape);
        Assert.InRange(a.min().item<float>(), -1e-6f, 1f);
        Assert.InRange(a.max().item<float>(), 0f, 1f + 1e-6f);

        // A full-size crop with a certain flip and nothing else is exactly the mirror image.
        var mirror = new AugmentationOptions
        {
            MinScale = 1, MaxScale = 1, MinRatio = 1, MaxRatio = 1, HorizontalFlipProbability = 1,
            ColorJitterProbability = 0, GrayscaleProbability = 0, BlurProbability = 0,
        };
        using var flipped = Augmentations.Apply(images, mirror, SeededGenerator.Create(1));
        Assert.True(flipped.allclose(images.flip(3), rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Rgb_colour_jitter_and_grayscale_keep_pixels_in_range_and_change_colours()
    {
        using var rgb = rand(16, 3, 12, 12, generator: SeededGenerator.Create(3));
        var options = new AugmentationOptions { MinScale = 1, MinRatio = 1, MaxRatio = 1, HorizontalFlipProbability = 0, ColorJitterProbability = 1, GrayscaleProbability = 0.5 };
        using var output = Augmentations.Apply(rgb, options, SeededGenerator.Create(9));
        Assert.InRange(output.min().item<float>(), -1e-6f, 1f);
        Assert.InRange(output.max().item<float>(), 0f, 1f + 1e-6f);
        // About half the images became grey: all three channels equal.
        var grey = output[.., 0].sub(output[.., 2]).abs().amax([1, 2]).lt(1e-6f).sum().item<long>();
        Assert.InRange(grey, 3, 13);
    }

    [Theory]
    [InlineData(Objectives.SimClr)]
    [InlineData(Objectives.Rotation)]
    public void A_few_steps_lower_the_loss(string objective)
    {
        using var temp = new TempDirectory();
        using var train = TinyImages.Bars(96, 2);
        using var validation = TinyImages.Bars(32, 3);
        using var trainer = new ImagePretrainer(objective, TinyImages.Settings(), TinyImages.Optimization(30), TinyImages.Grey16);

        var result = trainer.Train(train, validation, temp.Path);

        Assert.Equal(30, result.Steps);
        var first = result.Losses.Take(5).Average(l => l.Loss);
        var last = result.Losses.TakeLast(5).Average(l => l.Loss);
        Assert.True(last < first * 0.9, $"{objective}: loss went from {first:F4} to {last:F4}");
        // Chance is 1/32 for contrastive top-1 over 32 held-out images and 1/4 for rotation.
        Assert.InRange(result.ValidationValue, objective == Objectives.SimClr ? 3.0 / 32 : 0.25, 1.0);
    }

    [Fact]
    public void A_run_killed_after_a_checkpoint_resumes_to_the_same_losses()
    {
        using var straightDir = new TempDirectory();
        using var resumedDir = new TempDirectory();
        using var train = TinyImages.Bars(80, 4);
        using var validation = TinyImages.Bars(16, 5);
        ImagePretrainingResult straight;
        using (var trainer = new ImagePretrainer(Objectives.SimClr, TinyImages.Settings(), TinyImages.Optimization(10, checkpointEvery: 5), TinyImages.Grey16))
        {
            straight = trainer.Train(train, validation, straightDir.Path);
        }

        // The killed run left only its step-5 checkpoint behind.
        CopyDirectory(Path.Combine(straightDir.Path, "step-00000005"), Path.Combine(resumedDir.Path, "step-00000005"));
        ImagePretrainingResult resumed;
        using (var trainer = new ImagePretrainer(Objectives.SimClr, TinyImages.Settings(), TinyImages.Optimization(10, checkpointEvery: 5), TinyImages.Grey16))
        {
            resumed = trainer.Train(train, validation, resumedDir.Path);
        }

        Assert.Equal(10, resumed.Steps);
        Assert.Equal(straight.Losses.Select(l => l.Step), resumed.Losses.Select(l => l.Step));
        for (var i = 0; i < straight.Losses.Count; i++)
        {
            Assert.True(Math.Abs(straight.Losses[i].Loss - resumed.Losses[i].Loss) <= 1e-6, $"step {i + 1}: {straight.Losses[i].Loss} vs {resumed.Losses[i].Loss}");
        }

        Assert.Equal(straight.ValidationValue, resumed.ValidationValue, 6);
    }

    [Fact]
    public void Knn_monitoring_measures_labelled_images_on_schedule_and_leaves_training_untouched()
    {
        using var plainDir = new TempDirectory();
        using var monitoredDir = new TempDirectory();
        using var train = TinyImages.Bars(80, 4);
        using var validation = TinyImages.Bars(16, 5);
        using var bank = TinyImages.Bars(64, 6, out var bankLabels);
        using var queries = TinyImages.Bars(40, 7, out var queryLabels);
        using var monitor = new KnnMonitor(bank, bankLabels, queries, queryLabels, classes: 4, k: 5, every: 5);
        ImagePretrainingResult plain, monitored;
        using (var trainer = new ImagePretrainer(Objectives.SimClr, TinyImages.Settings(), TinyImages.Optimization(12), TinyImages.Grey16))
        {
            plain = trainer.Train(train, validation, plainDir.Path);
        }

        var events = new List<(int Step, double Accuracy)>();
        using (var trainer = new ImagePretrainer(Objectives.SimClr, TinyImages.Settings(), TinyImages.Optimization(12), TinyImages.Grey16))
        {
            monitored = trainer.Train(train, validation, monitoredDir.Path, monitor: monitor, onKnn: (s, a) => events.Add((s, a)));
            Assert.True(trainer.Encoder.training, "the monitor restores training mode");
        }

        // Before the first step, every 5 steps, and after the last one.
        Assert.Equal([0L, 5, 10, 12], monitored.KnnAccuracy.Select(p => p.Step));
        Assert.Equal(monitored.KnnAccuracy.Select(p => ((int)p.Step, p.Value)), events);
        Assert.All(monitored.KnnAccuracy, p => Assert.InRange(p.Value, 0.0, 1.0));
        Assert.Empty(plain.KnnAccuracy);
        // The bars' orientation is visible even to a random encoder: well above chance (1/4) at step 0.
        Assert.True(monitored.KnnAccuracy[0].Value > 0.4, $"initial kNN accuracy {monitored.KnnAccuracy[0].Value}");
        // Labels never reach the objective: the monitored run computes exactly the same losses.
        Assert.Equal(plain.Losses, monitored.Losses);
        Assert.Equal(plain.ValidationValue, monitored.ValidationValue);
    }

    [Fact]
    public void A_time_budget_stops_training_at_the_bottom_of_the_learning_rate_schedule()
    {
        using var temp = new TempDirectory();
        using var train = TinyImages.Bars(64, 8);
        using var validation = TinyImages.Bars(16, 9);
        var optimization = TinyImages.Optimization(100) with { WarmupSteps = 2, Schedule = "cosine" };
        using var trainer = new ImagePretrainer(Objectives.SimClr, TinyImages.Settings(), optimization, TinyImages.Grey16);
        var done = 0;

        // A fake clock: each step uses a sixth of the time budget, far ahead of the 100-step budget.
        var result = trainer.Train(train, validation, temp.Path, onStep: (s, _) => done = s, timeProgress: () => done / 6.0);

        Assert.True(result.StoppedByTimeLimit);
        Assert.Equal(6, result.Steps);
        // The last step (index 5) ran at the cosine schedule's value for 5/6 of the budget, not for 3/98 of the steps.
        var expected = optimization.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * 5 / 6));
        Assert.Equal(expected, trainer.Optimizer.ParamGroups.First().LearningRate, 10);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    private static double ReferenceNtXent(double[][] z1, double[][] z2, double temperature)
    {
        var z = z1.Concat(z2).Select(v => { var n = Math.Sqrt(v.Sum(x => x * x)); return v.Select(x => x / n).ToArray(); }).ToArray();
        var count = z1.Length;
        double total = 0;
        for (var i = 0; i < z.Length; i++)
        {
            var positive = (i + count) % z.Length;
            double denominator = 0, numerator = 0;
            for (var j = 0; j < z.Length; j++)
            {
                if (j == i)
                {
                    continue;
                }

                var e = Math.Exp(z[i].Zip(z[j], (a, b) => a * b).Sum() / temperature);
                denominator += e;
                if (j == positive)
                {
                    numerator = e;
                }
            }

            total += -Math.Log(numerator / denominator);
        }

        return total / z.Length;
    }
}
