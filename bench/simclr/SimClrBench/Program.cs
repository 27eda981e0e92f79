using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Ingestion.Images;
using Pipeline.Training.Images;
using static TorchSharp.torch;

if (args[0] == "quality")
{
    return QualityBench.Run(args[1..]);
}

if (args[0] == "profile")
{
    return ProfileBench.Run(args[1..]);
}

// SimClrBench <idx images> <threads> <warmup steps> <timed steps> <batch> <images to load>
// Trains the pipeline's SimCLR objective (small CNN 32-64, projection 128-64, NT-Xent, SmallGrey augmentations) through
// ImagePretrainer and prints "IMAGES_PER_S <x>": source images per second over the timed steps (each image is 2 views).
var (path, threads, warmup, timed, batch, load) = (args[0], int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture),
    int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture), int.Parse(args[5], CultureInfo.InvariantCulture));
set_num_threads(threads);
set_num_interop_threads(1);
var (rows, cols, images) = IdxImages.Read(path, load);
var pixels = new byte[images.Count * rows * cols];
for (var i = 0; i < images.Count; i++)
{
    images[i].CopyTo(pixels, i * rows * cols);
}

using var train = tensor(pixels, ScalarType.Byte).reshape(images.Count, 1, rows, cols);
using var validation = train.narrow(0, 0, 0);
var settings = new ImagePretrainingSettings { Model = new ImageEncoderConfig { ConvChannels = [32, 64], ProjectionHidden = 128, ProjectionDim = 64 }, Temperature = 0.5 };
var optimization = new OptimizationOptions
{
    Steps = warmup + timed, BatchSize = batch, LearningRate = 1e-3, WeightDecay = 0.01, WarmupSteps = 10, GradientClip = 1.0,
    CheckpointEvery = int.MaxValue, LogEvery = int.MaxValue, Seed = 1,
};
var preprocessing = new ImagePreprocessing { ImageMean = [0.286], ImageStd = [0.353] };
using var trainer = new ImagePretrainer(Objectives.SimClr, settings, optimization, preprocessing);
var clock = new Stopwatch();
var cpuStart = TimeSpan.Zero;
var cpu = TimeSpan.Zero;
double lastLoss = 0;
var work = Path.Combine(Path.GetTempPath(), $"simclr-bench-{Environment.ProcessId}");
trainer.Train(train, validation, work, onStep: (step, loss) =>
{
    lastLoss = loss;
    if (step == warmup)
    {
        clock.Restart();
        cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
    }
    else if (step == warmup + timed)
    {
        clock.Stop();
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuStart;
    }
});
Directory.Delete(work, recursive: true);
// CPU_IMAGES_PER_S: images per CPU-second of the whole process (all threads, GC included), as peer.py reports it.
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"IMAGES_PER_S {timed * batch / clock.Elapsed.TotalSeconds:F1} threads={get_num_threads()} final_loss={lastLoss:F4} CPU_IMAGES_PER_S {timed * batch / cpu.TotalSeconds:F1}"));
return 0;
