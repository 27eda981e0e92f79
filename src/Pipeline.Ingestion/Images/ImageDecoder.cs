using Pipeline.Core.Datasets;
using Pipeline.Ingestion.Quarantine;
using SkiaSharp;

namespace Pipeline.Ingestion.Images;

/// <summary>
/// Validates and decodes PNG/JPEG with SkiaSharp, and applies the geometric and colour steps of
/// <see cref="ImagePreprocessing"/> (the same code serves ingestion and inference, so both see identical pixels).
/// </summary>
public static class ImageDecoder
{
    private static readonly byte[] PngMagic = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly byte[] JpegMagic = [0xFF, 0xD8, 0xFF];

    /// <summary>Checks an upload without decoding the pixels; null when it is acceptable, else why not.</summary>
    public static QuarantineReason? Inspect(ReadOnlySpan<byte> bytes, string fileName, ImageValidationOptions limits)
    {
        var extension = Path.GetExtension(fileName).ToLowerInvariant();
        if (!ImageValidationOptions.Extensions.Contains(extension))
        {
            return new QuarantineReason(QuarantineCodes.UnsupportedExtension,
                $"'{extension}' is not an image type this pipeline reads; upload .png, .jpg or .jpeg.");
        }

        if (bytes.Length == 0)
        {
            return new QuarantineReason(QuarantineCodes.Empty, "The file is empty (0 bytes); upload the image again.");
        }

        if (bytes.Length > limits.MaxBytes)
        {
            return new QuarantineReason(QuarantineCodes.TooLarge,
                $"The file is {bytes.Length} bytes, over the {limits.MaxBytes}-byte limit; shrink or recompress it.",
                new Dictionary<string, string> { ["bytes"] = bytes.Length.ToString(), ["maxBytes"] = limits.MaxBytes.ToString() });
        }

        var isPng = bytes.StartsWith(PngMagic);
        var isJpeg = bytes.StartsWith(JpegMagic);
        if (!isPng && !isJpeg)
        {
            return new QuarantineReason(QuarantineCodes.DecodeFailed, "The bytes are neither a PNG nor a JPEG (no signature).");
        }

        if ((extension == ".png") != isPng)
        {
            return new QuarantineReason(QuarantineCodes.MagicMismatch,
                $"The name says {extension} but the bytes are a {(isPng ? "PNG" : "JPEG")}; rename the file to match its content.");
        }

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            return new QuarantineReason(QuarantineCodes.DecodeFailed, "The image header could not be read; the file is corrupt.");
        }

        long width = codec.Info.Width, height = codec.Info.Height;
        var size = new Dictionary<string, string> { ["width"] = width.ToString(), ["height"] = height.ToString() };
        if (width <= 0 || height <= 0)
        {
            return new QuarantineReason(QuarantineCodes.ZeroSize, $"The image is {width}x{height}; it has no pixels.", size);
        }

        if (width > limits.MaxDimension || height > limits.MaxDimension)
        {
            return new QuarantineReason(QuarantineCodes.DimensionsTooLarge,
                $"The image is {width}x{height}; each side must be at most {limits.MaxDimension}.", size);
        }

        if (width * height > limits.MaxPixels)
        {
            return new QuarantineReason(QuarantineCodes.DecompressionBomb,
                $"The header declares {width * height} pixels in {bytes.Length} bytes, over the {limits.MaxPixels}-pixel limit; it was not decoded.", size);
        }

        return null;
    }

    /// <summary>Fully decodes to RGBA (unpremultiplied); null when the pixel data is corrupt or truncated.</summary>
    public static SKBitmap? DecodeRgba(ReadOnlySpan<byte> bytes)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null || codec.Info.Width <= 0 || codec.Info.Height <= 0)
        {
            return null;
        }

        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            bitmap.Dispose();
            return null;
        }

        // Cameras store pixels as the sensor saw them and record the turn in EXIF Orientation: apply it first, so
        // resizing and cropping see the image upright, as a person does.
        if (codec.EncodedOrigin is SKEncodedOrigin.TopLeft or (SKEncodedOrigin)0)
        {
            return bitmap;
        }

        using (bitmap)
        {
            return ApplyOrigin(bitmap, codec.EncodedOrigin);
        }
    }

    /// <summary>
    /// The upright image for an EXIF orientation: an exact pixel remap (mirror, 180, transpose, 90 clockwise,
    /// transverse, 90 counter-clockwise for origins 2-8); origins 5-8 swap width and height.
    /// </summary>
    public static SKBitmap ApplyOrigin(SKBitmap source, SKEncodedOrigin origin)
    {
        int w = source.Width, h = source.Height;
        var swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var (outW, outH) = swap ? (h, w) : (w, h);
        var output = new SKBitmap(new SKImageInfo(outW, outH, source.ColorType, source.AlphaType));
        var src = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(source.GetPixelSpan());
        var dst = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(output.GetPixelSpan());
        int srcStride = source.RowBytes / 4, dstStride = output.RowBytes / 4;
        for (var y = 0; y < outH; y++)
        {
            for (var x = 0; x < outW; x++)
            {
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                    _ => (x, y),
                };
                dst[(y * dstStride) + x] = src[(sy * srcStride) + sx];
            }
        }

        return output;
    }

    /// <summary>
    /// Decodes and applies resize, centre crop, alpha compositing and grey conversion; returns uint8 CHW pixels, or
    /// null when the image does not decode.
    /// </summary>
    public static byte[]? ToChw(ReadOnlySpan<byte> bytes, ImagePreprocessing p)
    {
        using var rgba = DecodeRgba(bytes);
        return rgba is null ? null : ToChw(rgba, p);
    }

    public static byte[] ToChw(SKBitmap rgba, ImagePreprocessing p)
    {
        var opaque = Composite(rgba, (byte)Math.Clamp(p.AlphaBackground, 0, 255));
        try
        {
            int w = opaque.Width, h = opaque.Height;
            int targetW, targetH;
            if (p.Resize == ImagePreprocessing.ResizeModes.Stretch)
            {
                (targetW, targetH) = (p.Width, p.Height);
            }
            else
            {
                var scale = Math.Max((double)p.Width / w, (double)p.Height / h);
                targetW = Math.Max(p.Width, (int)Math.Round(w * scale));
                targetH = Math.Max(p.Height, (int)Math.Round(h * scale));
            }

            var resized = opaque;
            if (targetW != w || targetH != h)
            {
                var sampling = new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
                resized = opaque.Resize(new SKImageInfo(targetW, targetH, SKColorType.Rgba8888, SKAlphaType.Opaque), sampling)
                    ?? throw new InvalidOperationException($"SkiaSharp could not resize {w}x{h} to {targetW}x{targetH}.");
            }

            try
            {
                return Crop(resized, p);
            }
            finally
            {
                if (!ReferenceEquals(resized, opaque))
                {
                    resized.Dispose();
                }
            }
        }
        finally
        {
            opaque.Dispose();
        }
    }

    private static SKBitmap Composite(SKBitmap rgba, byte background)
    {
        var info = new SKImageInfo(rgba.Width, rgba.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var output = new SKBitmap(info);
        var src = rgba.GetPixelSpan();
        var dst = output.GetPixelSpan();
        for (var i = 0; i < src.Length; i += 4)
        {
            int a = src[i + 3];
            for (var c = 0; c < 3; c++)
            {
                dst[i + c] = (byte)(((src[i + c] * a) + (background * (255 - a)) + 127) / 255);
            }

            dst[i + 3] = 255;
        }

        return output;
    }

    private static byte[] Crop(SKBitmap image, ImagePreprocessing p)
    {
        int x0 = (image.Width - p.Width) / 2, y0 = (image.Height - p.Height) / 2;
        var plane = p.Height * p.Width;
        var chw = new byte[p.Channels * plane];
        var px = image.GetPixelSpan();
        var stride = image.RowBytes;
        for (var y = 0; y < p.Height; y++)
        {
            var row = px.Slice(((y + y0) * stride) + (x0 * 4), p.Width * 4);
            for (var x = 0; x < p.Width; x++)
            {
                byte r = row[x * 4], g = row[(x * 4) + 1], b = row[(x * 4) + 2];
                var i = (y * p.Width) + x;
                if (p.Channels == 1)
                {
                    chw[i] = (byte)(((299 * r) + (587 * g) + (114 * b) + 500) / 1000);
                }
                else
                {
                    chw[i] = r;
                    chw[plane + i] = g;
                    chw[(2 * plane) + i] = b;
                }
            }
        }

        return chw;
    }
}
