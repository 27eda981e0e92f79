using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Training.Jobs;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>Settings of an image pretraining job (JobSpec.Settings), with defaults for 28x28 grey images.</summary>
public sealed record ImagePretrainingSettings
{
    public ImageEncoderConfig Model { get; init; } = new();

    /// <summary>Null: <see cref="AugmentationOptions.SmallGrey"/> for SimCLR, <see cref="AugmentationOptions.Rotation"/> for rotation.</summary>
    public AugmentationOptions? Augmentation { get; init; }

    /// <summary>NT-Xent temperature (SimCLR).</summary>
    public double Temperature { get; init; } = 0.5;

    /// <summary>Held-out images used for the validation metric.</summary>
    public int ValidationImages { get; init; } = 1024;

    /// <summary>kNN accuracy monitoring on a labelled set supplied apart (labeled/{task}/); null: no monitoring.</summary>
    public KnnMonitorSettings? Knn { get; init; }

    /// <summary>
    /// With a wall-clock limit (Settings.maxMinutes), the learning-rate decay follows whichever runs out first, the
    /// steps or the time, so a run stopped by the clock still ends at the bottom of its schedule (budgeted training).
    /// </summary>
    public bool ScheduleByTime { get; init; } = true;

    public static ImagePretrainingSettings FromSpec(JobSpec spec) =>
        spec.Settings is { ValueKind: JsonValueKind.Object } settings
            ? settings.Deserialize<ImagePretrainingSettings>(PipelineJson.Options) ?? new()
            : new();
}

/// <summary>What a pretraining run produced (the trained modules stay owned by the caller's pretrainer).</summary>
public sealed record ImagePretrainingResult(
    int Steps, IReadOnlyList<LossPoint> Losses, string MetricName, double ValidationValue, bool HigherIsBetter, bool StoppedByTimeLimit)
{
    /// <summary>kNN accuracy on the labelled monitoring set, by step (step 0 is the random initialisation); empty without a monitor.</summary>
    public IReadOnlyList<MetricPoint> KnnAccuracy { get; init; } = [];
}


/// <summary>
/// The image pretraining loop, visible in order: batch, augment, forward, loss, backward, clip, step, schedule, log,
/// checkpoint. Batches and augmentations are drawn from generators seeded by (seed, step), so a run killed and
/// resumed from a checkpoint computes exactly the same losses as one that never stopped.
/// </summary>
public sealed class ImagePretrainer : IDisposable
{
    private readonly string _objective;
    private readonly OptimizationOptions _optimization;
    private readonly ImagePretrainingSettings _settings;
    private readonly PixelNormalizer _normalizer;
    private readonly Dictionary<int, long[]> _epochOrders = [];
    private double _timeProgressAtStart;
    private double _timeProgress;

    public ImagePretrainer(string objective, ImagePretrainingSettings settings, OptimizationOptions optimization, ImagePreprocessing preprocessing, Device? device = null)
    {
        Device = device ?? CPU;
        if (objective is not (Objectives.SimClr or Objectives.Rotation))
        {
            throw new ArgumentException($"'{objective}' is not an image objective; use '{Objectives.SimClr}' or '{Objectives.Rotation}'.");
        }

        _objective = objective;
        _settings = settings;
        _optimization = optimization;
        Config = settings.Model with { Channels = preprocessing.Channels, Height = preprocessing.Height, Width = preprocessing.Width };
        if (objective == Objectives.Rotation && Config.Height != Config.Width)
        {
            throw new ArgumentException($"Rotation prediction needs square images; this dataset is {Config.Height}x{Config.Width}.");
        }

        _normalizer = new PixelNormalizer(preprocessing.ImageMean, preprocessing.ImageStd);
        // Initialisation is seeded too: the random-init encoder (the evaluation baseline) is reproducible.
        random.manual_seed(optimization.Seed);
        Encoder = ImageEncoder.Create(Config);
        Pretext = objective == Objectives.SimClr
            ? new SimClrPretext(Config, settings.Augmentation ?? AugmentationOptions.SmallGrey, settings.Temperature)
            : new RotationPretext(Config, settings.Augmentation ?? AugmentationOptions.Rotation);
        Encoder.to(Device);
        Pretext.Head.to(Device);
        Optimizer = optim.AdamW(
            Encoder.parameters().Concat(Pretext.Head.parameters()), optimization.LearningRate, optimization.Beta1, optimization.Beta2,
            optimization.Epsilon, optimization.WeightDecay);
    }

    public ImageEncoderConfig Config { get; }

    public Device Device { get; }

    public ImageEncoder Encoder { get; }

    public IImagePretext Pretext { get; }

    public TorchSharp.Modules.AdamW Optimizer { get; }

    /// <summary>
    /// Trains to Optimization.Steps (or until <paramref name="stop"/> says so, e.g. the job's wall-clock limit), resuming
    /// from the newest checkpoint in <paramref name="checkpointDirectory"/>. <paramref name="onCheckpoint"/> sees each
    /// checkpoint folder once written; <paramref name="onStep"/> each step's loss.
    /// </summary>
    /// <param name="train">uint8 [N, C, H, W].</param>
    /// <param name="validation">uint8 [M, C, H, W]; may be empty.</param>
    /// <param name="monitor">kNN accuracy on labelled images, measured every monitor.Every steps; it never touches training.</param>
    /// <param name="onKnn">Sees each kNN measurement (step, accuracy).</param>
    /// <param name="timeProgress">Fraction of this launch's wall-clock budget used so far (0 to 1); with
    /// Settings.ScheduleByTime the learning-rate decay follows it when it runs ahead of the steps, and training ends at 1.</param>
    public ImagePretrainingResult Train(
        Tensor train, Tensor validation, string checkpointDirectory, Action<string>? log = null,
        Func<string, int, Task>? onCheckpoint = null, Func<bool>? stop = null, Action<int, double>? onStep = null,
        CancellationToken cancellationToken = default, KnnMonitor? monitor = null, Action<int, double>? onKnn = null,
        Func<double>? timeProgress = null)
    {
        var losses = new List<LossPoint>();
        var knn = new List<MetricPoint>();
        var step = ImageCheckpoint.TryLoadLatest(checkpointDirectory, this, losses, knn, out _timeProgressAtStart);
        _timeProgress = _timeProgressAtStart;
        if (step > 0)
        {
            log?.Invoke($"resumed {_objective} from step {step}");
        }

        if (!_settings.ScheduleByTime)
        {
            timeProgress = null;
        }

        void Measure()
        {
            if (monitor is null || (knn.Count > 0 && knn[^1].Step == step))
            {
                return;
            }

            var accuracy = monitor.Evaluate(Encoder, _normalizer, Device);
            knn.Add(new MetricPoint(step, accuracy));
            onKnn?.Invoke(step, accuracy);
        }

        Measure();

        var batchSize = _optimization.BatchSize;
        var stoppedByTime = false;
        Encoder.train();
        Pretext.Head.train();
        while (step < _optimization.Steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (timeProgress is not null)
            {
                _timeProgress = Math.Max(_timeProgress, _timeProgressAtStart + timeProgress());
            }

            if (stop?.Invoke() == true || _timeProgress >= 1)
            {
                stoppedByTime = true;
                log?.Invoke($"stopped at step {step} of {_optimization.Steps} (wall-clock limit)");
                break;
            }

            using (var scope = NewDisposeScope())
            {
                var images = Batch(train, step, batchSize);
                using var generator = SeededGenerator.Create((_optimization.Seed * 1_000_003) + step + 1, images.device);
                SetLearningRate(step);
                Optimizer.zero_grad();
                var loss = Pretext.Loss(Encoder, images, _normalizer, generator);
                loss.backward();
                if (_optimization.GradientClip > 0)
                {
                    nn.utils.clip_grad_norm_(Encoder.parameters().Concat(Pretext.Head.parameters()), _optimization.GradientClip);
                }

                Optimizer.step();
                losses.Add(new LossPoint(step + 1, loss.item<float>()));
            }

            step++;
            onStep?.Invoke(step, losses[^1].Loss);
            if (step % Math.Max(1, _optimization.LogEvery) == 0)
            {
                log?.Invoke($"step {step}/{_optimization.Steps} loss {losses[^1].Loss:F4}");
            }

            if (monitor is not null && step % Math.Max(1, monitor.Every) == 0)
            {
                Measure();
            }

            if (step % Math.Max(1, _optimization.CheckpointEvery) == 0 && step < _optimization.Steps)
            {
                var folder = ImageCheckpoint.Save(checkpointDirectory, step, this, losses, knn, _timeProgress);
                onCheckpoint?.Invoke(folder, step).GetAwaiter().GetResult();
            }
        }

        Measure();
        var final = ImageCheckpoint.Save(checkpointDirectory, step, this, losses, knn, _timeProgress);
        onCheckpoint?.Invoke(final, step).GetAwaiter().GetResult();
        var value = Validate(validation.shape[0] > 0 ? validation : train);
        return new ImagePretrainingResult(step, losses, Pretext.MetricName, value, Pretext.HigherIsBetter, stoppedByTime) { KnnAccuracy = knn };
    }

    /// <summary>The validation metric on up to Settings.ValidationImages held-out images.</summary>
    public double Validate(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        Encoder.eval();
        Pretext.Head.eval();
        try
        {
            var n = Math.Min(pixels.shape[0], _settings.ValidationImages);
            return Pretext.Validate(Encoder, (pixels.narrow(0, 0, n).to_type(ScalarType.Float32) / 255.0f).to(Device), _normalizer);
        }
        finally
        {
            Encoder.train();
            Pretext.Head.train();
        }
    }

    /// <summary>The images of step <paramref name="step"/>: consecutive slices of per-epoch permutations seeded by (seed, epoch).</summary>
    public Tensor Batch(Tensor pixels, int step, int batchSize)
    {
        var n = pixels.shape[0];
        var indices = new long[batchSize];
        for (var k = 0; k < batchSize; k++)
        {
            var global = ((long)step * batchSize) + k;
            var epoch = (int)(global / n);
            if (!_epochOrders.TryGetValue(epoch, out var order))
            {
                using var generator = SeededGenerator.Create((_optimization.Seed * 7919) + epoch, pixels.device);
                using var permutation = randperm(n, generator: generator);
                order = permutation.data<long>().ToArray();
                _epochOrders.Remove(epoch - 2);
                _epochOrders[epoch] = order;
            }

            indices[k] = order[global % n];
        }

        using var index = tensor(indices, device: pixels.device);
        return (pixels.index_select(0, index).to_type(ScalarType.Float32) / 255.0f).to(Device);
    }

    private void SetLearningRate(int step)
    {
        var o = _optimization;
        double lr;
        if (step < o.WarmupSteps)
        {
            lr = o.LearningRate * (step + 1) / o.WarmupSteps;
        }
        else
        {
            var progress = Math.Min(1, Math.Max((double)(step - o.WarmupSteps) / Math.Max(1, o.Steps - o.WarmupSteps), _timeProgress));
            lr = o.Schedule == "linear" ? o.LearningRate * (1 - progress) : o.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * progress));
        }

        foreach (var group in Optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }
    }

    public void Dispose()
    {
        Encoder.Dispose();
        Pretext.Head.Dispose();
        Optimizer.Dispose();
    }
}
