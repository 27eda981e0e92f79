using System.Text.Json;
using Pipeline.Core;

namespace Pipeline.Inference.Images;

/// <summary>
/// preprocessing.json of an image model, as ingestion wrote it: decode, composite alpha over a grey background, resize
/// (shorter side then centre crop, or stretch), grey by BT.601 or RGB, then (byte * rescale - mean) / std in NCHW.
/// Same JSON fields as the dataset's preprocessing record (Hugging Face image-processor names).
/// </summary>
public sealed record ImageInputSpec
{
    public int Channels { get; init; } = 1;

    public int Height { get; init; } = 28;

    public int Width { get; init; } = 28;

    public string Resize { get; init; } = "shorter-side-then-center-crop";

    public string Resample { get; init; } = "linear";

    public int AlphaBackground { get; init; } = 255;

    public string GreyConversion { get; init; } = "bt601";

    public double RescaleFactor { get; init; } = 1.0 / 255.0;

    public IReadOnlyList<double> ImageMean { get; init; } = [0.5];

    public IReadOnlyList<double> ImageStd { get; init; } = [0.5];

    public string InputName { get; init; } = "pixel_values";

    public static ImageInputSpec Parse(string json)
    {
        var spec = JsonSerializer.Deserialize<ImageInputSpec>(json, PipelineJson.Options)
            ?? throw new InvalidDataException("preprocessing.json is empty.");
        if (spec.Channels is not (1 or 3) || spec.Height is < 1 or > 4096 || spec.Width is < 1 or > 4096
            || spec.ImageMean.Count != spec.Channels || spec.ImageStd.Count != spec.Channels || spec.ImageStd.Any(s => s <= 0))
        {
            throw new InvalidDataException("preprocessing.json is inconsistent: channels 1 or 3, one mean and std (> 0) per channel, sides 1..4096.");
        }

        return spec;
    }

    /// <summary>(byte * rescale - mean) / std, channel by channel, from CHW bytes into <paramref name="output"/>.</summary>
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
}
