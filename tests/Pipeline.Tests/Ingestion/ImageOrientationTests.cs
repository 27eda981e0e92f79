using Pipeline.Core.Datasets;
using Pipeline.Ingestion.Images;
using SkiaSharp;

namespace Pipeline.Tests.Ingestion;

public class ImageOrientationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void A_jpeg_with_an_exif_orientation_decodes_upright(int orientation)
    {
        // A 24x16 photo whose stored pixels have a white top-left quadrant on black, as a sideways camera writes them.
        var plain = PhotoJpeg();
        var tagged = WithExifOrientation(plain, (ushort)orientation);

        using var stored = ImageDecoder.DecodeRgba(plain)!;
        using var upright = ImageDecoder.DecodeRgba(tagged)!;

        Assert.Equal(orientation >= 5 ? (16, 24) : (24, 16), (upright.Width, upright.Height));
        // Exactly the stored pixels, moved: output (x, y) reads stored (sx, sy) per the EXIF definition.
        for (var y = 0; y < upright.Height; y++)
        {
            for (var x = 0; x < upright.Width; x++)
            {
                var (sx, sy) = orientation switch
                {
                    2 => (23 - x, y),
                    3 => (23 - x, 15 - y),
                    4 => (x, 15 - y),
                    5 => (y, x),
                    6 => (y, 15 - x),
                    7 => (23 - y, 15 - x),
                    8 => (23 - y, x),
                    _ => (x, y),
                };
                Assert.Equal(stored.GetPixel(sx, sy), upright.GetPixel(x, y));
            }
        }
    }

    [Fact]
    public void Orientation_is_applied_before_the_resize_and_crop()
    {
        // Stored sideways (white left half of a 32x16 image) with orientation 6 (rotate 90 clockwise to view): upright,
        // the white half is on top. A 16x16 grey crop of the upright 16x32 image must be bright on top, dark below.
        using var bitmap = new SKBitmap(new SKImageInfo(32, 16, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(SKColors.Black);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.DrawRect(0, 0, 16, 16, new SKPaint { Color = SKColors.White });
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95);
        var jpeg = WithExifOrientation(data.ToArray(), 6);
        var spec = new ImagePreprocessing { Channels = 1, Height = 32, Width = 16, ImageMean = [0.5], ImageStd = [0.5] };

        var chw = ImageDecoder.ToChw(jpeg, spec)!;

        var top = chw.Take(16 * 12).Average(b => b);
        var bottom = chw.Skip(16 * 20).Average(b => b);
        Assert.True(top > 200 && bottom < 50, $"top {top:F0}, bottom {bottom:F0}");
    }

    private static byte[] PhotoJpeg()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(24, 16, SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(SKColors.Black);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.DrawRect(0, 0, 12, 8, new SKPaint { Color = SKColors.White });
            canvas.DrawRect(18, 10, 4, 4, new SKPaint { Color = new SKColor(200, 40, 40) });
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    /// <summary>
    /// Inserts an EXIF APP1 segment right after the JPEG's SOI marker: "Exif\0\0", a big-endian TIFF header and one IFD
    /// entry, Orientation (tag 0x0112, SHORT) = <paramref name="orientation"/>. This is how cameras tag rotated photos.
    /// </summary>
    private static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] tiff =
        [
            (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // header: big-endian, magic 42, first IFD at offset 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, // Orientation, SHORT, count 1, value
            0, 0, 0, 0, // no next IFD
        ];
        byte[] exif = [(byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0, .. tiff];
        var length = exif.Length + 2;
        byte[] app1 = [0xFF, 0xE1, (byte)(length >> 8), (byte)length, .. exif];
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, jpeg[..2]);
        return [.. jpeg[..2], .. app1, .. jpeg[2..]];
    }
}
