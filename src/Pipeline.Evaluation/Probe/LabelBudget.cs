using System.Globalization;

namespace Pipeline.Evaluation.Probe;

/// <summary>
/// How many labels a probe may use: a fraction of the labelled training pool ("1%", "10%", "100%"), or a number per
/// class ("50/class"). Draws are stratified, so every class keeps at least one example.
/// </summary>
public sealed record LabelBudget
{
    private LabelBudget(double? fraction, int? perClass)
    {
        Fraction = fraction;
        PerClass = perClass;
    }

    public double? Fraction { get; }

    public int? PerClass { get; }

    public static LabelBudget Percent(double percent) =>
        percent is > 0 and <= 100 ? new(percent / 100.0, null) : throw new ArgumentOutOfRangeException(nameof(percent), percent, "A label budget is a percentage in (0, 100].");

    public static LabelBudget PerClassCount(int count) =>
        count >= 1 ? new(null, count) : throw new ArgumentOutOfRangeException(nameof(count), count, "A per-class label budget must be >= 1.");

    /// <summary>"1%", "10%", "100%", "all", "50/class" or "50pc".</summary>
    public static LabelBudget Parse(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "all")
        {
            return Percent(100);
        }

        if (t.EndsWith('%') && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent))
        {
            return Percent(percent);
        }

        foreach (var suffix in new[] { "/class", "pc", "perclass" })
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal) && int.TryParse(t[..^suffix.Length], NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            {
                return PerClassCount(count);
            }
        }

        throw new FormatException($"Label budget '{text}' is not understood; use a percentage ('1%', '10%', 'all') or a count per class ('50/class').");
    }

    /// <summary>A short name used in tables, metrics keys and the plot: "1pct", "10pct", "50pc".</summary>
    public string Key => Fraction is { } f ? $"{(f * 100).ToString("0.##", CultureInfo.InvariantCulture)}pct" : $"{PerClass}pc";

    public override string ToString() => Fraction is { } f ? $"{(f * 100).ToString("0.##", CultureInfo.InvariantCulture)}%" : $"{PerClass}/class";

    /// <summary>
    /// Draws indices from the pool (labels 0..classes-1): per class, a seeded shuffle then the first n, where n is
    /// round(fraction x class size) (at least 1) or the per-class count (at most the class size). Sorted ascending.
    /// </summary>
    public int[] Draw(IReadOnlyList<int> poolLabels, int classes, int seed)
    {
        var random = new Random(seed);
        var chosen = new List<int>();
        for (var c = 0; c < classes; c++)
        {
            var members = Enumerable.Range(0, poolLabels.Count).Where(i => poolLabels[i] == c).ToArray();
            if (members.Length == 0)
            {
                continue;
            }

            random.Shuffle(members);
            var n = Fraction is { } f ? Math.Max(1, (int)Math.Round(f * members.Length)) : Math.Min(PerClass!.Value, members.Length);
            chosen.AddRange(members.Take(n));
        }

        chosen.Sort();
        return [.. chosen];
    }
}
