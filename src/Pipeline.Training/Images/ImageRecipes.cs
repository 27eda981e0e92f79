using Pipeline.Core.Jobs;

namespace Pipeline.Training.Images;

/// <summary>
/// Named pretraining recipes (model, augmentations, optimiser) that the benchmarks and the demo share, so the recipe a
/// README quotes is the one that ran.
/// </summary>
public static class ImageRecipes
{
    /// <summary>
    /// SimCLR for small grey images such as Fashion-MNIST on a CPU budget: a 3-block CNN (32-64-128, 128-d embedding
    /// after global average pooling), projection head 128-128-64 (dropped at export), NT-Xent at temperature 0.5,
    /// views by random resized crop (scale 0.2-1), horizontal flip and brightness/contrast jitter (no blur: a 3-pixel
    /// kernel at 28x28 erases strokes; no hue/saturation on grey), AdamW lr 2e-3 with warmup and cosine decay.
    /// </summary>
    public static (ImagePretrainingSettings Settings, OptimizationOptions Optimization) FashionMnist(int steps, int batchSize = 256, long seed = 1) =>
    (
        new ImagePretrainingSettings
        {
            Model = new ImageEncoderConfig { ConvChannels = [32, 64, 128], ProjectionHidden = 128, ProjectionDim = 64 },
            Augmentation = AugmentationOptions.SmallGrey,
            Temperature = 0.5,
        },
        new OptimizationOptions
        {
            Steps = steps, BatchSize = batchSize, LearningRate = 2e-3, WeightDecay = 1e-4, WarmupSteps = 50, Schedule = "cosine",
            GradientClip = 1.0, Seed = seed, CheckpointEvery = 500, LogEvery = 50,
        });
}
