using Pipeline.Evaluation.Probe;

namespace Pipeline.Evaluation;

/// <summary>What the data-efficiency evaluation measures: label budgets, seeded draws per budget, and the probe.</summary>
public sealed record DataEfficiencyOptions
{
    /// <summary>"1%", "10%", "100%", "50/class", ... (see <see cref="LabelBudget.Parse"/>).</summary>
    public IReadOnlyList<string> Budgets { get; init; } = ["1%", "10%"];

    /// <summary>Seeded label draws per budget; every encoder is probed on the same draws (a paired comparison).</summary>
    public int Draws { get; init; } = 3;

    public int Seed { get; init; } = 17;

    public LinearProbeOptions Probe { get; init; } = new();

    /// <summary>Compare against the same architecture at initialisation (encoder-random.onnx) when it is present.</summary>
    public bool RandomInitBaseline { get; init; } = true;

    /// <summary>Compare against raw features (TF-IDF for text, pixels for images).</summary>
    public bool RawFeatureBaseline { get; init; } = true;

    /// <summary>ONNX Runtime intra-op threads for embedding.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>TF-IDF vocabulary size.</summary>
    public int TfIdfFeatures { get; init; } = 4096;

    public DataEfficiencyOptions Validate()
    {
        if (Budgets.Count == 0)
        {
            throw new ArgumentException("Give at least one label budget (e.g. '1%', '10%', '50/class').");
        }

        foreach (var budget in Budgets)
        {
            LabelBudget.Parse(budget);
        }

        if (Draws < 1)
        {
            throw new ArgumentException("Draws must be >= 1 (3 or more gives a spread).");
        }

        Probe.Validate();
        return this;
    }
}
