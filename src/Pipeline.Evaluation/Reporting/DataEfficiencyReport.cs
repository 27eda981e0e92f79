using System.Globalization;
using System.Text;

namespace Pipeline.Evaluation.Reporting;

/// <summary>Encoder names used in reports, metrics keys and the plot legend.</summary>
public static class EncoderNames
{
    public const string Pretrained = "pretrained";
    public const string RandomInit = "random-init";
    public const string TfIdf = "tfidf";
    public const string Pixels = "pixels";
}

/// <summary>Test accuracy of one encoder's probe at one label budget, over the seeded draws.</summary>
public sealed record ProbeResult
{
    public required string Encoder { get; init; }

    /// <summary>"1%", "50/class", ...</summary>
    public required string Budget { get; init; }

    /// <summary>"1pct", "50pc", ... (metrics keys).</summary>
    public required string BudgetKey { get; init; }

    /// <summary>Labelled examples per draw (the same for every draw of a budget).</summary>
    public required int Labels { get; init; }

    public required IReadOnlyList<double> Accuracies { get; init; }

    /// <summary>The L2 strength cross-validation chose in each draw.</summary>
    public required IReadOnlyList<double> L2 { get; init; }

    public double Mean => Accuracies.Average();

    /// <summary>Sample standard deviation over draws (0 for one draw).</summary>
    public double Std => Accuracies.Count < 2 ? 0 : Math.Sqrt(Accuracies.Sum(a => (a - Mean) * (a - Mean)) / (Accuracies.Count - 1));
}

/// <summary>
/// The evidence a published model carries (metrics.json "dataEfficiency", data-efficiency.png, the model card's table):
/// linear-probe accuracy at each label budget for the pretrained encoder and its baselines.
/// </summary>
public sealed record DataEfficiencyReport
{
    public required string Task { get; init; }

    public required string Modality { get; init; }

    public required IReadOnlyList<string> Classes { get; init; }

    public required int TrainPool { get; init; }

    public required int TestExamples { get; init; }

    public required int Draws { get; init; }

    public required int Seed { get; init; }

    public string Probe { get; init; } = "multinomial logistic regression (L-BFGS), standardised features, L2 by 3-fold CV";

    public required IReadOnlyList<string> Encoders { get; init; }

    public required IReadOnlyList<ProbeResult> Results { get; init; }

    public ProbeResult? Find(string encoder, string budgetKey) =>
        Results.FirstOrDefault(r => r.Encoder == encoder && r.BudgetKey == budgetKey);

    /// <summary>Flat metrics: probe_{budget}_{encoder} (mean accuracy) and probe_{budget}_{encoder}_std.</summary>
    public IReadOnlyDictionary<string, double> FlatMetrics()
    {
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var r in Results)
        {
            var key = $"probe_{r.BudgetKey}_{r.Encoder.Replace('-', '_')}";
            metrics[key] = Math.Round(r.Mean, 5);
            metrics[$"{key}_std"] = Math.Round(r.Std, 5);
        }

        return metrics;
    }

    /// <summary>The model card section: a table of mean ± std accuracy (%) per budget and encoder.</summary>
    public string ToMarkdown(string? plotFile = "data-efficiency.png")
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("## Data efficiency (linear probe)");
        sb.AppendLine();
        sb.AppendLine(inv, $"Task `{Task}` ({Modality}, {Classes.Count} classes): a linear probe ({Probe}) on frozen embeddings, trained on a label budget drawn from {TrainPool} labelled examples and tested on {TestExamples} held-out examples; mean ± std test accuracy over {Draws} seeded draws (seed {Seed}), the same draws for every encoder.");
        sb.AppendLine();
        sb.Append("| Labels |");
        foreach (var encoder in Encoders)
        {
            sb.Append(inv, $" {encoder} |");
        }

        sb.AppendLine();
        sb.Append("|---|");
        foreach (var _ in Encoders)
        {
            sb.Append("---:|");
        }

        sb.AppendLine();
        foreach (var budget in Results.Select(r => (r.BudgetKey, r.Budget, r.Labels)).Distinct())
        {
            sb.Append(inv, $"| {budget.Budget} ({budget.Labels}) |");
            foreach (var encoder in Encoders)
            {
                var r = Find(encoder, budget.BudgetKey);
                sb.Append(r is null ? " – |" : string.Create(inv, $" {r.Mean * 100:0.0} ± {r.Std * 100:0.0} |"));
            }

            sb.AppendLine();
        }

        if (plotFile is not null)
        {
            sb.AppendLine();
            sb.AppendLine(inv, $"![accuracy vs labels]({plotFile})");
        }

        return sb.ToString();
    }
}
