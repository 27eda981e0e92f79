namespace Pipeline.Training.Images;

/// <summary>
/// The image encoder architecture, read from a job's Settings.model and written to config.json next to encoder.onnx.
/// </summary>
public sealed record ImageEncoderConfig
{
    /// <summary>"small-cnn" (conv-BN-ReLU-maxpool blocks) or "resnet18" (CIFAR-style ResNet-18).</summary>
    public string Architecture { get; init; } = Architectures.SmallCnn;

    public int Channels { get; init; } = 1;

    public int Height { get; init; } = 28;

    public int Width { get; init; } = 28;

    /// <summary>Small CNN: output channels of each conv block (each block halves the resolution).</summary>
    public IReadOnlyList<int> ConvChannels { get; init; } = [32, 64];

    /// <summary>ResNet-18: multiplies the stage widths 64/128/256/512.</summary>
    public double WidthMultiplier { get; init; } = 1.0;

    /// <summary>Projection head (SimCLR "g"): hidden and output sizes. Dropped at export.</summary>
    public int ProjectionHidden { get; init; } = 128;

    public int ProjectionDim { get; init; } = 64;

    public double BatchNormEps { get; init; } = 1e-5;

    /// <summary>Size of the encoder output ("embedding"): the last stage's channel count after global average pooling.</summary>
    public int EmbeddingDim => Architecture == Architectures.ResNet18 ? ResNetWidths[^1] : ConvChannels[^1];

    public int[] ResNetWidths => [.. new[] { 64, 128, 256, 512 }.Select(w => Math.Max(4, (int)Math.Round(w * WidthMultiplier)))];

    public void Validate()
    {
        if (Architecture is not (Architectures.SmallCnn or Architectures.ResNet18))
        {
            throw new ArgumentException($"Unknown image architecture '{Architecture}'; use '{Architectures.SmallCnn}' or '{Architectures.ResNet18}'.");
        }

        if (Channels is not (1 or 3) || ConvChannels.Count == 0 || ConvChannels.Any(c => c < 1) || WidthMultiplier <= 0)
        {
            throw new ArgumentException("Channels must be 1 or 3; ConvChannels non-empty and positive; WidthMultiplier > 0.");
        }

        if (Architecture == Architectures.SmallCnn && (Height >> ConvChannels.Count) < 1)
        {
            throw new ArgumentException($"{ConvChannels.Count} pooling blocks shrink a {Height}px image to nothing; use fewer blocks.");
        }
    }

    public static class Architectures
    {
        public const string SmallCnn = "small-cnn";
        public const string ResNet18 = "resnet18";
    }
}
