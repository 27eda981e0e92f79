using Pipeline.Core.Datasets;
using Pipeline.Evaluation.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>
/// Job settings for kNN monitoring (Settings.knn): the labelled set under labeled/{Labeled}/ (supplied apart from the
/// unlabelled data; the pretraining objective never reads it), how often to measure and how much of it to use.
/// </summary>
public sealed record KnnMonitorSettings
{
    /// <summary>The labelled task name: labeled/{Labeled}/ holds idx files or train/{label}/ image folders.</summary>
    public string Labeled { get; init; } = "";

    /// <summary>Measure every this many optimizer steps (and before the first step and after the last).</summary>
    public int Every { get; init; } = 500;

    public int K { get; init; } = 20;

    /// <summary>Labelled training images that form the neighbour bank (a seeded stratified subset).</summary>
    public int BankImages { get; init; } = 10_000;

    /// <summary>Labelled test images that are classified (a seeded stratified subset).</summary>
    public int QueryImages { get; init; } = 2_000;
}

/// <summary>One measurement of a metric during training.</summary>
public readonly record struct MetricPoint(long Step, double Value);

/// <summary>
/// kNN accuracy of the encoder's features on a labelled validation subset, the usual way to watch a self-supervised
/// run: embed a labelled bank and labelled queries (eval mode, no augmentation, no gradients), L2-normalise, and let
/// the K most cosine-similar bank images vote with weight exp(similarity / 0.07) (InstDisc / SimCLR monitors).
/// Labels live only here; nothing flows back into training, so a monitored run trains exactly like an unmonitored one.
/// </summary>
public sealed class KnnMonitor : IDisposable
{
    private const double VoteTemperature = 0.07;
    private readonly Tensor _bank;
    private readonly Tensor _bankLabels;
    private readonly Tensor _queries;
    private readonly long[] _queryLabels;

    /// <param name="bank">uint8 [N, C, H, W] labelled images to vote.</param>
    /// <param name="queries">uint8 [M, C, H, W] labelled images to classify.</param>
    public KnnMonitor(Tensor bank, IReadOnlyList<int> bankLabels, Tensor queries, IReadOnlyList<int> queryLabels, int classes, int k = 20, int every = 500)
    {
        if (bank.shape[0] != bankLabels.Count || queries.shape[0] != queryLabels.Count || bank.shape[0] == 0 || queries.shape[0] == 0)
        {
            throw new ArgumentException("kNN monitoring needs a non-empty bank and query set with one label per image.");
        }

        _bank = bank.alias();
        _bankLabels = tensor(bankLabels.Select(l => (long)l).ToArray());
        _queries = queries.alias();
        _queryLabels = [.. queryLabels.Select(l => (long)l)];
        Classes = classes;
        K = (int)Math.Min(k, bank.shape[0]);
        Every = every;
    }

    public int Classes { get; }

    public int K { get; }

    public int Every { get; }

    public long BankSize => _bank.shape[0];

    public long QuerySize => _queries.shape[0];

    /// <summary>
    /// Builds a monitor from a labelled set whose images have the dataset's shape (C, H, W); returns null with the
    /// reason when they do not (monitoring is skipped, training is not affected).
    /// </summary>
    public static KnnMonitor? FromLabeled(LabeledDataset data, ImagePreprocessing preprocessing, KnnMonitorSettings settings, out string? reason)
    {
        reason = null;
        if (data.Modality != Modality.Image || data.Train.Images is null || data.Test.Images is null)
        {
            reason = $"labeled/{data.Task} is not an image set";
            return null;
        }

        var size = preprocessing.Channels * preprocessing.Height * preprocessing.Width;
        if (data.Train.Images.Concat(data.Test.Images).Any(i => i.Length != size))
        {
            reason = $"labeled/{data.Task} images are {data.ImageShape.Channels}x{data.ImageShape.Height}x{data.ImageShape.Width}; "
                + $"the dataset is {preprocessing.Channels}x{preprocessing.Height}x{preprocessing.Width}";
            return null;
        }

        var subset = data.Subsample(settings.BankImages, settings.QueryImages, seed: 101);
        using var bankPixels = Stack(subset.Train.Images!, preprocessing);
        using var queryPixels = Stack(subset.Test.Images!, preprocessing);
        return new KnnMonitor(bankPixels, subset.Train.Labels, queryPixels, subset.Test.Labels, data.ClassNames.Count, settings.K, settings.Every);
    }

    /// <summary>kNN accuracy of <paramref name="encoder"/> (restores its training mode afterwards).</summary>
    public double Evaluate(nn.Module<Tensor, Tensor> encoder, PixelNormalizer normalizer, Device device)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var wasTraining = encoder.training;
        encoder.eval();
        try
        {
            var bank = Embed(encoder, normalizer, _bank, device);
            var queries = Embed(encoder, normalizer, _queries, device);
            var bankLabels = _bankLabels.to(device);
            long correct = 0;
            for (long start = 0; start < queries.shape[0]; start += 512)
            {
                var q = queries.narrow(0, start, Math.Min(512, queries.shape[0] - start));
                var (similarity, index) = q.matmul(bank.t()).topk(K, 1);
                var votes = zeros(q.shape[0], Classes, device: device).scatter_add_(1, bankLabels[index], (similarity / VoteTemperature).exp());
                var predicted = votes.argmax(1).cpu().data<long>().ToArray();
                for (var i = 0; i < predicted.Length; i++)
                {
                    correct += predicted[i] == _queryLabels[start + i] ? 1 : 0;
                }
            }

            return (double)correct / _queryLabels.Length;
        }
        finally
        {
            encoder.train(wasTraining);
        }
    }

    private static Tensor Embed(nn.Module<Tensor, Tensor> encoder, PixelNormalizer normalizer, Tensor pixels, Device device)
    {
        var parts = new List<Tensor>();
        for (long start = 0; start < pixels.shape[0]; start += 512)
        {
            var x = pixels.narrow(0, start, Math.Min(512, pixels.shape[0] - start)).to(device).to_type(ScalarType.Float32) / 255f;
            parts.Add(nn.functional.normalize(encoder.forward(normalizer.Apply(x)), p: 2, dim: 1));
        }

        return cat(parts, 0);
    }

    private static Tensor Stack(IReadOnlyList<byte[]> images, ImagePreprocessing p)
    {
        var size = p.Channels * p.Height * p.Width;
        var all = new byte[images.Count * size];
        for (var i = 0; i < images.Count; i++)
        {
            images[i].CopyTo(all, i * size);
        }

        return tensor(all, ScalarType.Byte).reshape(images.Count, p.Channels, p.Height, p.Width);
    }

    public void Dispose()
    {
        _bank.Dispose();
        _bankLabels.Dispose();
        _queries.Dispose();
    }
}
