using System.Text.Json;

namespace Pipeline.Core.Registry;

/// <summary>
/// parity.json: how far ONNX Runtime's outputs are from the trained TorchSharp model's on the same inputs. The
/// registry refuses to move latest.json unless <see cref="Passed"/>; a failure names the output, case and index.
/// </summary>
public sealed record ParityReport
{
    public const double DefaultTolerance = 1e-4;

    /// <summary>The exported file checked, e.g. "encoder.onnx".</summary>
    public required string Model { get; init; }

    public double Tolerance { get; init; } = DefaultTolerance;

    /// <summary>Largest |onnx - torch| over every output, case and element.</summary>
    public required double MaxAbsDiff { get; init; }

    /// <summary>Positions where the top-1 token differs (fill-mask models only; must be 0).</summary>
    public int? Top1Mismatches { get; init; }

    public required bool Passed { get; init; }

    /// <summary>Why it failed, naming the output, case and position; null when it passed.</summary>
    public string? Failure { get; init; }

    public IReadOnlyList<ParityComparison> Comparisons { get; init; } = [];

    public DateTimeOffset CheckedAt { get; init; } = DateTimeOffset.UtcNow;

    public string ToJson() => JsonSerializer.Serialize(this, PipelineJson.Options);

    public void WriteJson(string path) => File.WriteAllText(path, ToJson());

    public static ParityReport Read(string json) =>
        JsonSerializer.Deserialize<ParityReport>(json, PipelineJson.Options)
        ?? throw new InvalidDataException("parity.json is empty.");

    /// <summary>One report covering several exported files; passes only when all of them pass.</summary>
    public static ParityReport Combine(string model, IReadOnlyList<ParityReport> reports)
    {
        if (reports.Count == 0)
        {
            throw new ArgumentException("Nothing to combine: no parity reports.", nameof(reports));
        }

        var failures = reports.Where(r => !r.Passed).Select(r => $"{r.Model}: {r.Failure}").ToList();
        var mismatches = reports.Where(r => r.Top1Mismatches is not null).Select(r => r.Top1Mismatches!.Value).ToList();
        return new ParityReport
        {
            Model = model,
            Tolerance = reports.Max(r => r.Tolerance),
            MaxAbsDiff = reports.Max(r => r.MaxAbsDiff),
            Top1Mismatches = mismatches.Count == 0 ? null : mismatches.Sum(),
            Passed = failures.Count == 0,
            Failure = failures.Count == 0 ? null : string.Join("; ", failures),
            Comparisons = reports.SelectMany(r => r.Comparisons.Select(c => c with { Output = $"{r.Model}:{c.Output}" })).ToList(),
        };
    }
}

/// <summary>One output of one input case: its shape, worst difference and where it is.</summary>
public sealed record ParityComparison
{
    public required string Case { get; init; }

    public required string Output { get; init; }

    public required long[] Shape { get; init; }

    public required double MaxAbsDiff { get; init; }

    /// <summary>Multi-index of the largest difference.</summary>
    public required long[] WorstIndex { get; init; }

    public required double Expected { get; init; }

    public required double Actual { get; init; }
}
