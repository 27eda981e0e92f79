namespace Pipeline.Core.Datasets;

/// <summary>
/// preprocessing.json of an image dataset version and of every image model built from it: the exact steps that turn
/// an image file into the model's <c>pixel_values</c> [batch, C, H, W] float32. Ingestion applies the geometric and
/// colour steps once (into the uint8 shards); training and inference then apply the same rescale and normalise.
/// Field names follow the Hugging Face image-processor convention so a Python user recognises them.
/// </summary>
public sealed record ImagePreprocessing
{
    /// <summary>1 (grey, ITU-R BT.601 luma) or 3 (RGB).</summary>
    public int Channels { get; init; } = 1;

    public int Height { get; init; } = 28;

    public int Width { get; init; } = 28;

    /// <summary>"shorter-side-then-center-crop": scale so the shorter side fits, then crop the centre.</summary>
    public string Resize { get; init; } = ResizeModes.ShorterSideThenCenterCrop;

    /// <summary>Resampling filter: "linear" (bilinear, with mipmaps when shrinking more than 2x).</summary>
    public string Resample { get; init; } = "linear";

    /// <summary>Alpha is discarded after compositing over this grey level (0..255).</summary>
    public int AlphaBackground { get; init; } = 255;

    /// <summary>"bt601": grey = round(0.299 R + 0.587 G + 0.114 B).</summary>
    public string GreyConversion { get; init; } = "bt601";

    /// <summary>pixel_values = (byte * RescaleFactor - ImageMean[c]) / ImageStd[c].</summary>
    public double RescaleFactor { get; init; } = 1.0 / 255.0;

    public IReadOnlyList<double> ImageMean { get; init; } = [0.5];

    public IReadOnlyList<double> ImageStd { get; init; } = [0.5];

    /// <summary>"NCHW" float32.</summary>
    public string Layout { get; init; } = "NCHW";

    public string InputName { get; init; } = "pixel_values";

    /// <summary>Validates the options at the edge with a message that says what to change.</summary>
    public void Validate()
    {
        if (Channels is not (1 or 3))
        {
            throw new ArgumentException($"Image channels must be 1 (grey) or 3 (RGB), not {Channels}.");
        }

        if (Height is < 4 or > 1024 || Width is < 4 or > 1024)
        {
            throw new ArgumentException($"Image size {Height}x{Width} is outside 4..1024 per side.");
        }

        if (ImageMean.Count != Channels || ImageStd.Count != Channels || ImageStd.Any(s => s <= 0))
        {
            throw new ArgumentException($"ImageMean and ImageStd need one value per channel ({Channels}); std must be > 0.");
        }
    }

    /// <summary>Writes the float pixel values of one uint8 CHW image into <paramref name="output"/>.</summary>
    public void Normalize(ReadOnlySpan<byte> chw, Span<float> output)
    {
        var plane = Height * Width;
        for (var c = 0; c < Channels; c++)
        {
            var scale = (float)(RescaleFactor / ImageStd[c]);
            var shift = (float)(ImageMean[c] / ImageStd[c]);
            var src = chw.Slice(c * plane, plane);
            var dst = output.Slice(c * plane, plane);
            for (var i = 0; i < plane; i++)
            {
                dst[i] = (src[i] * scale) - shift;
            }
        }
    }

    public static class ResizeModes
    {
        public const string ShorterSideThenCenterCrop = "shorter-side-then-center-crop";
        public const string Stretch = "stretch";
    }
}
