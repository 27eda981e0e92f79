using System.Text;
using Pipeline.Evaluation.Probe;

namespace Pipeline.Evaluation.Features;

/// <summary>
/// The raw-feature text baseline: word unigrams (lower-cased letters and digits), sublinear tf x smoothed idf
/// (scikit-learn's TfidfVectorizer defaults with sublinear_tf), rows L2-normalised. The vocabulary is the most
/// frequent terms by document frequency in the fitting texts (label-free, so fitting on the whole pool is fair).
/// </summary>
public sealed class TfIdfVectorizer
{
    private readonly Dictionary<string, int> _vocabulary;
    private readonly float[] _idf;

    private TfIdfVectorizer(Dictionary<string, int> vocabulary, float[] idf)
    {
        _vocabulary = vocabulary;
        _idf = idf;
    }

    public int Dimensions => _idf.Length;

    public static TfIdfVectorizer Fit(IEnumerable<string> texts, int maxFeatures = 4096, int minDocumentFrequency = 2)
    {
        var df = new Dictionary<string, int>(StringComparer.Ordinal);
        var documents = 0;
        foreach (var text in texts)
        {
            documents++;
            foreach (var term in Tokenize(text).Distinct())
            {
                df[term] = df.GetValueOrDefault(term) + 1;
            }
        }

        var kept = df.Where(p => p.Value >= minDocumentFrequency)
            .OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(maxFeatures).ToArray();
        if (kept.Length == 0)
        {
            // Tiny corpora: fall back to every term rather than an empty vocabulary.
            kept = [.. df.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(maxFeatures)];
        }

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        var idf = new float[Math.Max(1, kept.Length)];
        for (var i = 0; i < kept.Length; i++)
        {
            vocabulary[kept[i].Key] = i;
            idf[i] = (float)(Math.Log((1.0 + documents) / (1.0 + kept[i].Value)) + 1.0);
        }

        return new TfIdfVectorizer(vocabulary, idf);
    }

    public FeatureMatrix Transform(IReadOnlyList<string> texts)
    {
        var matrix = new FeatureMatrix(texts.Count, Dimensions);
        for (var i = 0; i < texts.Count; i++)
        {
            var row = matrix.Row(i);
            foreach (var group in Tokenize(texts[i]).GroupBy(t => t, StringComparer.Ordinal))
            {
                if (_vocabulary.TryGetValue(group.Key, out var j))
                {
                    row[j] = (float)(1.0 + Math.Log(group.Count())) * _idf[j];
                }
            }

            var norm = MathF.Sqrt(LogisticRegression.Dot(row, row));
            if (norm > 0)
            {
                for (var j = 0; j < row.Length; j++)
                {
                    row[j] /= norm;
                }
            }
        }

        return matrix;
    }

    internal static IEnumerable<string> Tokenize(string text)
    {
        var builder = new StringBuilder();
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch))
            {
                builder.Append(char.ToLowerInvariant(ch));
            }
            else if (builder.Length > 0)
            {
                yield return builder.ToString();
                builder.Clear();
            }
        }

        if (builder.Length > 0)
        {
            yield return builder.ToString();
        }
    }
}
