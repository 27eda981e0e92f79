using Pipeline.Core.Datasets;
using SkiaSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>view-pairs.png: original | view 1 | view 2 for a few training images, so a person sees what the model saw.</summary>
public static class ViewPairsImage
{
    public static void Save(string path, SimClrPretext pretext, Tensor trainPixels, ImagePreprocessing p, long seed, int rows = 8, int scale = 3)
    {
        using var scope = NewDisposeScope();
        var n = (int)Math.Min(rows, trainPixels.shape[0]);
        var originals = trainPixels.narrow(0, 0, n).to_type(ScalarType.Float32) / 255f;
        using var generator = SeededGenerator.Create(seed);
        var v1 = Augmentations.Apply(originals, pretext.Augmentation, generator);
        var v2 = Augmentations.Apply(originals, pretext.Augmentation, generator);
        var columns = new[] { originals, v1, v2 };
        int h = p.Height * scale, w = p.Width * scale, gap = 4;
        using var bitmap = new SKBitmap(new SKImageInfo((3 * w) + (4 * gap), (n * h) + ((n + 1) * gap), SKColorType.Rgba8888, SKAlphaType.Opaque));
        bitmap.Erase(SKColors.White);
        for (var column = 0; column < 3; column++)
        {
            var bytes = (columns[column].clamp(0, 1) * 255).round().to_type(ScalarType.Byte).cpu().data<byte>().ToArray();
            for (var i = 0; i < n; i++)
            {
                for (var y = 0; y < h; y++)
                {
                    for (var x = 0; x < w; x++)
                    {
                        int sy = y / scale, sx = x / scale, plane = p.Height * p.Width, at = (i * p.Channels * plane) + (sy * p.Width) + sx;
                        var r = bytes[at];
                        var g = p.Channels == 3 ? bytes[at + plane] : r;
                        var b = p.Channels == 3 ? bytes[at + (2 * plane)] : r;
                        bitmap.SetPixel(gap + (column * (w + gap)) + x, gap + (i * (h + gap)) + y, new SKColor(r, g, b));
                    }
                }
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }
}
