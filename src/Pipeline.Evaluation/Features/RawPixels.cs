using Pipeline.Evaluation.Probe;

namespace Pipeline.Evaluation.Features;

/// <summary>The raw-feature image baseline: every pixel (0..1) as a feature, standardised by the probe.</summary>
public static class RawPixels
{
    public static FeatureMatrix Transform(IReadOnlyList<byte[]> images)
    {
        var matrix = new FeatureMatrix(images.Count, images[0].Length);
        for (var i = 0; i < images.Count; i++)
        {
            var row = matrix.Row(i);
            var image = images[i];
            for (var j = 0; j < image.Length; j++)
            {
                row[j] = image[j] / 255f;
            }
        }

        return matrix;
    }
}
