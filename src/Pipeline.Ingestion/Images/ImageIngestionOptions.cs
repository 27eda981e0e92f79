using Pipeline.Core.Datasets;

namespace Pipeline.Ingestion.Images;

/// <summary>Limits an upload must respect to be accepted; anything outside goes to quarantine with the limit named.</summary>
public sealed record ImageValidationOptions
{
    /// <summary>Largest accepted file.</summary>
    public long MaxBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Largest accepted width or height, read from the header before decoding.</summary>
    public int MaxDimension { get; init; } = 10_000;

    /// <summary>Largest accepted width x height: a small file declaring more is a decompression bomb.</summary>
    public long MaxPixels { get; init; } = 40_000_000;

    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg"];
}

/// <summary>How a dataset version is sealed: the target geometry and colour, shard size and validation split.</summary>
public sealed record ImageSealOptions
{
    /// <summary>Channels, size and resize rule; mean/std are measured on the training split at seal time.</summary>
    public ImagePreprocessing Preprocessing { get; init; } = new();

    public int ImagesPerShard { get; init; } = 8192;

    /// <summary>Fraction of images (chosen by content hash, so stable across versions) held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Parallel blob downloads while sealing.</summary>
    public int DownloadParallelism { get; init; } = 16;

    public void Validate()
    {
        new ImagePreprocessing
        {
            Channels = Preprocessing.Channels, Height = Preprocessing.Height, Width = Preprocessing.Width,
            ImageMean = Enumerable.Repeat(0.5, Preprocessing.Channels).ToArray(),
            ImageStd = Enumerable.Repeat(0.5, Preprocessing.Channels).ToArray(),
        }.Validate();
        if (ImagesPerShard < 1 || ValidationFraction is < 0 or >= 1 || DownloadParallelism < 1)
        {
            throw new ArgumentException("ImagesPerShard must be >= 1, ValidationFraction in [0, 1), DownloadParallelism >= 1.");
        }
    }
}
