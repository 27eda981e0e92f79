using SkiaSharp;

namespace Pipeline.Inference.Images;

/// <summary>
/// Turns PNG/JPEG bytes into the model's CHW uint8 pixels with SkiaSharp, following <see cref="ImageInputSpec"/>.
/// Rejects (400) what is not an image, and images beyond the byte or side limits before decoding them fully.
/// </summary>
public static class ImageDecoder
{
    public static byte[] DecodeToChw(ReadOnlySpan<byte> encoded, ImageInputSpec spec, InferenceLimits limits)
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

        using var decoded = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(decoded.Info, decoded.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            throw InferenceException.BadRequest($"The image could not be decoded ({result}).");
        }

        using var resized = Resize(decoded, spec);
        return ToChw(resized, spec);
    }

    private static SKBitmap Resize(SKBitmap source, ImageInputSpec spec)
    {
        // Composite over the background first so transparent pixels resample as the background colour.
        var background = (byte)Math.Clamp(spec.AlphaBackground, 0, 255);
        using var flat = new SKBitmap(new SKImageInfo(source.Width, source.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(flat))
        {
            canvas.Clear(new SKColor(background, background, background, 255));
            using var image = SKImage.FromBitmap(source);
            canvas.DrawImage(image, 0, 0);
        }

        SKRectI crop;
        if (spec.Resize == "stretch")
        {
            crop = new SKRectI(0, 0, source.Width, source.Height);
        }
        else
        {
            // Shorter side fits; the centre of the longer side is kept.
            var scale = Math.Max((double)spec.Width / source.Width, (double)spec.Height / source.Height);
            var cropW = Math.Min(source.Width, (int)Math.Round(spec.Width / scale));
            var cropH = Math.Min(source.Height, (int)Math.Round(spec.Height / scale));
            var left = (source.Width - cropW) / 2;
            var top = (source.Height - cropH) / 2;
            crop = new SKRectI(left, top, left + cropW, top + cropH);
        }

        var shrink = Math.Max((double)crop.Width / spec.Width, (double)crop.Height / spec.Height);
        var sampling = spec.Resample == "nearest"
            ? new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None)
            : new SKSamplingOptions(SKFilterMode.Linear, shrink > 2 ? SKMipmapMode.Linear : SKMipmapMode.None);
        var target = new SKBitmap(new SKImageInfo(spec.Width, spec.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(target))
        {
            using var image = SKImage.FromBitmap(flat);
            canvas.DrawImage(image, SKRect.Create(crop.Left, crop.Top, crop.Width, crop.Height), SKRect.Create(0, 0, spec.Width, spec.Height), sampling);
        }

        return target;
    }

    private static byte[] ToChw(SKBitmap bitmap, ImageInputSpec spec)
    {
        var plane = spec.Width * spec.Height;
        var chw = new byte[spec.Channels * plane];
        var pixels = bitmap.GetPixelSpan();
        for (var i = 0; i < plane; i++)
        {
            var r = pixels[4 * i];
            var g = pixels[(4 * i) + 1];
            var b = pixels[(4 * i) + 2];
            if (spec.Channels == 1)
            {
                chw[i] = (byte)Math.Clamp(Math.Round((0.299 * r) + (0.587 * g) + (0.114 * b), MidpointRounding.AwayFromZero), 0, 255);
            }
            else
            {
                chw[i] = r;
                chw[plane + i] = g;
                chw[(2 * plane) + i] = b;
            }
        }

        return chw;
    }
}
