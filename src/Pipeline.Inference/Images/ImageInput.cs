using Pipeline.Core.Datasets;
using Pipeline.Ingestion.Images;
using SkiaSharp;

namespace Pipeline.Inference.Images;

/// <summary>
/// Request bytes to the model's pixel_values: checks the format and size limits from the header (before decoding
/// the pixels), decodes with SkiaSharp, then applies preprocessing.json through ingestion's own
/// <see cref="ImageDecoder.ToChw(SKBitmap, ImagePreprocessing)"/>, so a served image gets the pixels training saw.
/// </summary>
public static class ImageInput
{
    public static ImagePreprocessing ParsePreprocessing(string json)
    {
        var spec = System.Text.Json.JsonSerializer.Deserialize<ImagePreprocessing>(json, Pipeline.Core.PipelineJson.Options)
            ?? throw new InvalidDataException("preprocessing.json is empty.");
        spec.Validate();
        return spec;
    }

    /// <summary>Normalised float CHW pixels of one image.</summary>
    public static float[] ToPixelValues(ReadOnlySpan<byte> encoded, ImagePreprocessing spec, InferenceLimits limits)
    {
        if (encoded.Length == 0)
        {
            throw InferenceException.BadRequest("The image is empty.");
        }

        if (encoded.Length > limits.MaxImageBytes)
        {
            throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The image is {encoded.Length} bytes; the limit is {limits.MaxImageBytes}.");
        }

        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw InferenceException.BadRequest("The body is not a PNG or JPEG image the decoder recognises.");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg))
        {
            throw new InferenceException(InferenceErrorKind.UnsupportedMediaType, $"Image format {codec.EncodedFormat} is not accepted; send PNG or JPEG.");
        }

        var info = codec.Info;
        if (info.Width < 1 || info.Height < 1 || info.Width > limits.MaxImageSide || info.Height > limits.MaxImageSide)
        {
            throw InferenceException.BadRequest($"The image is {info.Width}x{info.Height}; each side must be 1..{limits.MaxImageSide} pixels.");
        }

        if ((long)info.Width * info.Height > limits.MaxImagePixels)
        {
            throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The image declares {(long)info.Width * info.Height} pixels; the limit is {limits.MaxImagePixels}.");
        }

        using var rgba = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(rgba.Info, rgba.GetPixels());
        if (result != SKCodecResult.Success)
        {
            throw InferenceException.BadRequest($"The image could not be decoded ({result}); it is corrupt or truncated.");
        }

        var chw = ImageDecoder.ToChw(rgba, spec);
        var values = new float[chw.Length];
        spec.Normalize(chw, values);
        return values;
    }
}
