using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Core.Registry;

/// <summary>Everything model-card.md is rendered from.</summary>
public sealed record ModelCardInput
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public required DateTimeOffset PublishedAt { get; init; }

    public ModelCardInfo Info { get; init; } = new();

    /// <summary>config.json (architecture, pooling, normalisation, max length or image size).</summary>
    public JsonNode? Config { get; init; }

    public IReadOnlyDictionary<string, double> TrainingMetrics { get; init; } = new Dictionary<string, double>();

    public JsonNode? Evaluation { get; init; }

    public ParityReport? Parity { get; init; }

    /// <summary>A markdown section from the downstream evaluator, embedded as is.</summary>
    public string? EvaluationMarkdown { get; init; }

    /// <summary>File name to sha256 of every file in the version (plots among them are embedded).</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();
}

/// <summary>Renders model-card.md: what the model is, the data and training it came from, its metrics and plots, how to load it.</summary>
public static class ModelCard
{
    public static string Render(ModelCardInput input)
    {
        var info = input.Info;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# {info.Title ?? input.Name} (version {input.Version})");
        md.AppendLine();
        md.AppendLine(info.Description ?? $"A {info.Modality ?? "self-supervised"} encoder pretrained with the {info.Objective ?? "pipeline's"} objective on unlabeled data, exported to ONNX.");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        Row(md, "Model", $"`{input.Name}`");
        Row(md, "Version", input.Version);
        Row(md, "Published", input.PublishedAt.ToString("u", CultureInfo.InvariantCulture));
        Row(md, "Objective", info.Objective);
        Row(md, "Modality", info.Modality);
        Row(md, "Dataset manifest", info.DatasetManifest is null ? null : $"`{info.DatasetManifest}`");
        Row(md, "Dataset manifest sha256", info.DatasetManifestSha256 is null ? null : $"`{info.DatasetManifestSha256}`");
        Row(md, "Training run", info.RunId is null ? null : $"`{info.RunId}/{info.JobId}`");
        md.AppendLine();

        if (input.Config is not null)
        {
            md.AppendLine("## Architecture and preprocessing (config.json)");
            md.AppendLine();
            Table(md, Flatten(input.Config));
        }

        if (info.TrainingConfig is not null)
        {
            md.AppendLine("## Training configuration");
            md.AppendLine();
            Table(md, Flatten(info.TrainingConfig));
        }

        md.AppendLine("## Metrics");
        md.AppendLine();
        var metrics = input.TrainingMetrics.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => ($"training.{kv.Key}", Format(kv.Value))).ToList();
        if (input.Evaluation is not null)
        {
            metrics.AddRange(Flatten(input.Evaluation).Select(kv => ($"evaluation.{kv.Key}", kv.Value)));
        }

        if (metrics.Count == 0)
        {
            md.AppendLine("No metrics recorded.");
            md.AppendLine();
        }
        else
        {
            Table(md, metrics, "Metric", "Value");
        }

        if (input.TrainingMetrics.TryGetValue("int8_published", out var int8Published))
        {
            string M(string key) => input.TrainingMetrics.TryGetValue(key, out var v) ? Format(v) : "n/a";
            md.AppendLine("## int8 variant");
            md.AppendLine();
            md.AppendLine($"`encoder.int8.onnx` (dynamic quantisation: int8 MatMul weights per column, activations quantised at run time) against fp32 on held-out validation text: "
                + $"mean embedding cosine {M("int8_embedding_cosine_mean")} (min {M("int8_embedding_cosine_min")}), fill-mask top-1 agreement {M("int8_fill_mask_top1_agreement")}, "
                + $"speed-up {M("int8_speedup")}x. Tolerance: mean cosine >= {M("int8_tolerance_min_mean_cosine")}, top-1 agreement >= {M("int8_tolerance_min_top1_agreement")}.");
            md.AppendLine();
            md.AppendLine(int8Published >= 1
                ? "Within tolerance, so it is published: serve it with `?variant=int8`."
                : "Outside tolerance, so it is not published (int8.json has the measurement).");
            md.AppendLine();
        }

        if (input.Evaluation is null)
        {
            md.AppendLine("Downstream evaluation has not run for this version, so it is not the `latest` alias.");
            md.AppendLine();
        }

        if (!string.IsNullOrWhiteSpace(input.EvaluationMarkdown))
        {
            md.AppendLine("## Downstream evaluation");
            md.AppendLine();
            md.AppendLine(input.EvaluationMarkdown.Trim());
            md.AppendLine();
        }

        if (input.Parity is { } parity)
        {
            md.AppendLine("## ONNX parity");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"ONNX Runtime vs the trained TorchSharp model on held-out inputs (several batch sizes and lengths, padding included): max |diff| **{Format(parity.MaxAbsDiff)}** (tolerance {Format(parity.Tolerance)}), {(parity.Passed ? "passed" : "FAILED")}{(parity.Top1Mismatches is { } m ? $", fill-mask top-1 mismatches: {m}" : "")}.");
            md.AppendLine();
        }

        var plots = input.Files.Keys.Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToList();
        if (plots.Count > 0)
        {
            md.AppendLine("## Plots");
            md.AppendLine();
            foreach (var plot in plots)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"![{PlotTitle(plot)}]({plot})");
                md.AppendLine();
            }
        }

        md.AppendLine("## Use it");
        md.AppendLine();
        md.AppendLine(Usage(input));
        md.AppendLine();
        md.AppendLine("## Files");
        md.AppendLine();
        Table(md, input.Files.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, $"`{kv.Value}`")).ToList(), "File", "sha256");
        md.AppendLine("Verify a download with `sha256sum -c SHA256SUMS`.");
        if (!string.IsNullOrWhiteSpace(info.Notices))
        {
            md.AppendLine();
            md.AppendLine("## Notices");
            md.AppendLine();
            md.AppendLine(info.Notices);
        }

        return md.ToString();
    }

    private static string Usage(ModelCardInput input)
    {
        if (input.Files.ContainsKey("vocab.txt"))
        {
            return """
                ```python
                import onnxruntime as ort
                from tokenizers import BertWordPieceTokenizer  # settings as in config.json (lowercase, strip accents)
                tok = BertWordPieceTokenizer("vocab.txt", lowercase=True, strip_accents=True)
                enc = tok.encode("a sentence to embed")
                sess = ort.InferenceSession("encoder.onnx")
                feeds = {"input_ids": [enc.ids], "attention_mask": [enc.attention_mask], "token_type_ids": [enc.type_ids]}
                import numpy as np
                hidden, embedding = sess.run(None, {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items()})
                ```
                """;
        }

        return """
            ```python
            import numpy as np, onnxruntime as ort
            sess = ort.InferenceSession("encoder.onnx")
            # pixel_values: float32 [batch, C, H, W], normalised as in preprocessing.json
            (embedding,) = sess.run(None, {"pixel_values": pixel_values})
            ```
            """;
    }

    private static string PlotTitle(string file) =>
        CultureInfo.InvariantCulture.TextInfo.ToTitleCase(Path.GetFileNameWithoutExtension(file).Replace('-', ' ').Replace('_', ' '));

    private static void Row(StringBuilder md, string key, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {key} | {Escape(value)} |");
        }
    }

    private static void Table(StringBuilder md, IReadOnlyList<(string Key, string Value)> rows, string keyHeader = "Setting", string valueHeader = "Value")
    {
        md.AppendLine(CultureInfo.InvariantCulture, $"| {keyHeader} | {valueHeader} |");
        md.AppendLine("|---|---|");
        foreach (var (key, value) in rows)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {Escape(key)} | {Escape(value)} |");
        }

        md.AppendLine();
    }

    /// <summary>Leaves of a JSON tree as (dotted.path, text); arrays of numbers stay on one line.</summary>
    internal static List<(string Key, string Value)> Flatten(JsonNode node, string prefix = "")
    {
        var rows = new List<(string, string)>();
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj)
                {
                    var path = prefix.Length == 0 ? key : $"{prefix}.{key}";
                    if (child is null)
                    {
                        rows.Add((path, "null"));
                    }
                    else
                    {
                        rows.AddRange(Flatten(child, path));
                    }
                }

                break;
            case JsonArray array when array.All(x => x is JsonValue):
                rows.Add((prefix, string.Join(", ", array.Select(x => LeafText(x!)))));
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is { } child)
                    {
                        rows.AddRange(Flatten(child, $"{prefix}[{i}]"));
                    }
                }

                break;
            default:
                rows.Add((prefix, LeafText(node)));
                break;
        }

        return rows;
    }

    private static string LeafText(JsonNode node) =>
        node.GetValueKind() == JsonValueKind.Number ? Format(double.Parse(node.ToJsonString(), CultureInfo.InvariantCulture)) : node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString();

    private static string Format(double value) => Math.Abs(value) is > 0 and (< 1e-3 or >= 1e6)
        ? value.ToString("0.###e+0", CultureInfo.InvariantCulture)
        : value.ToString("0.####", CultureInfo.InvariantCulture);

    private static string Escape(string value) => value.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
