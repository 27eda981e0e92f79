using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Ingestion.Images;
using Pipeline.Training.Images;
using static TorchSharp.torch;

/// <summary>
/// quality <dir> <minutes> <threads> <batch> <k>: SimCLR-pretrains the small CNN on the 60k Fashion-MNIST training images
/// (labels never read) for at most <minutes>, then classifies the 10k test images by cosine kNN over the training
/// images' embeddings, for the trained encoder and for the same encoder at its random initialisation.
/// Prints "QUALITY knn_acc=<k> random_init_knn_acc=<r> steps=<n>".
/// </summary>
internal static class QualityBench
{
    public static int Run(string[] args)
    {
        var dir = args[0];
        var minutes = double.Parse(args[1], CultureInfo.InvariantCulture);
        var threads = int.Parse(args[2], CultureInfo.InvariantCulture);
        var batch = int.Parse(args[3], CultureInfo.InvariantCulture);
        var k = int.Parse(args[4], CultureInfo.InvariantCulture);
        set_num_threads(threads);
        using var train = Load(Path.Combine(dir, "train-images-idx3-ubyte.gz"));
        using var test = Load(Path.Combine(dir, "t10k-images-idx3-ubyte.gz"));
        var trainLabels = Labels(Path.Combine(dir, "train-labels-idx1-ubyte.gz"));
        var testLabels = Labels(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"));

        var preprocessing = new ImagePreprocessing { ImageMean = [0.286], ImageStd = [0.353] };
        var settings = new ImagePretrainingSettings { Model = new ImageEncoderConfig { ConvChannels = [32, 64], ProjectionHidden = 128, ProjectionDim = 64 }, Temperature = 0.5 };
        var optimization = new OptimizationOptions
        {
            Steps = 100_000, BatchSize = batch, LearningRate = 2e-3, WeightDecay = 1e-4, WarmupSteps = 50, GradientClip = 1.0,
            CheckpointEvery = int.MaxValue, LogEvery = 100, Seed = 1, Schedule = "linear",
        };
        using var trainer = new ImagePretrainer(Objectives.SimClr, settings, optimization, preprocessing);
        var normalizer = new PixelNormalizer(preprocessing.ImageMean, preprocessing.ImageStd);
        var random = Knn(trainer.Encoder, normalizer, train, trainLabels, test, testLabels, k);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"random-init knn_acc={random:F4}"));

        var deadline = DateTime.UtcNow.AddMinutes(minutes);
        var work = Path.Combine(Path.GetTempPath(), $"simclr-quality-{Environment.ProcessId}");
        var result = trainer.Train(train, test.narrow(0, 0, 512), work, log: Console.WriteLine, stop: () => DateTime.UtcNow >= deadline);
        Directory.Delete(work, recursive: true);
        var trained = Knn(trainer.Encoder, normalizer, train, trainLabels, test, testLabels, k);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"QUALITY knn_acc={trained:F4} random_init_knn_acc={random:F4} steps={result.Steps} contrastive_top1={result.ValidationValue:F4}"));
        return 0;
    }

    private static double Knn(ImageEncoder encoder, PixelNormalizer normalizer, Tensor train, long[] trainLabels, Tensor test, long[] testLabels, int k)
    {
        using var scope = NewDisposeScope();
        encoder.eval();
        using var noGrad = no_grad();
        var bank = Embed(encoder, normalizer, train);
        var queries = Embed(encoder, normalizer, test);
        var bankLabels = tensor(trainLabels);
        long correct = 0;
        for (long start = 0; start < queries.shape[0]; start += 1000)
        {
            var q = queries.narrow(0, start, Math.Min(1000, queries.shape[0] - start));
            var (sims, idx) = q.matmul(bank.t()).topk(k, 1);
            var votes = zeros(q.shape[0], 10).scatter_add_(1, bankLabels[idx], (sims / 0.07).exp());
            var predicted = votes.argmax(1).data<long>().ToArray();
            for (var i = 0; i < predicted.Length; i++)
            {
                correct += predicted[i] == testLabels[start + i] ? 1 : 0;
            }
        }

        encoder.train();
        return (double)correct / testLabels.Length;
    }

    private static Tensor Embed(ImageEncoder encoder, PixelNormalizer normalizer, Tensor pixels)
    {
        var parts = new List<Tensor>();
        for (long start = 0; start < pixels.shape[0]; start += 1000)
        {
            var x = pixels.narrow(0, start, Math.Min(1000, pixels.shape[0] - start)).to_type(ScalarType.Float32) / 255f;
            parts.Add(nn.functional.normalize(encoder.forward(normalizer.Apply(x)), p: 2, dim: 1));
        }

        return cat(parts, 0);
    }

    private static Tensor Load(string path)
    {
        var (rows, cols, images) = IdxImages.Read(path);
        var pixels = new byte[images.Count * rows * cols];
        for (var i = 0; i < images.Count; i++)
        {
            images[i].CopyTo(pixels, i * rows * cols);
        }

        return tensor(pixels, ScalarType.Byte).reshape(images.Count, 1, rows, cols);
    }

    private static long[] Labels(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var header = new byte[8];
        gzip.ReadExactly(header);
        var labels = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4))];
        gzip.ReadExactly(labels);
        return [.. labels.Select(l => (long)l)];
    }
}
