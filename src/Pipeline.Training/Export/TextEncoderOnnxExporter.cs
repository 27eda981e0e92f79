using Pipeline.Core.Models;
using Pipeline.Training.Models.Text;
using static Pipeline.Training.Export.OnnxGraphBuilder;

namespace Pipeline.Training.Export;

/// <summary>
/// Writes encoder.onnx: inputs input_ids, attention_mask, token_type_ids (int64 [batch, sequence], both dynamic);
/// outputs last_hidden_state [batch, sequence, hidden] and sentence_embedding [batch, hidden] (2 x hidden for
/// "mean-first-last"), pooled as <see cref="TextEncoder.Pool"/> does (masked mean, CLS, or masked means of the embedding
/// output and the last layer concatenated; optionally L2-normalised).
/// </summary>
public static class TextEncoderOnnxExporter
{
    public const string LastHiddenState = "last_hidden_state";
    public const string SentenceEmbedding = "sentence_embedding";

    /// <summary>Exports <paramref name="model"/> (weights as they are now) to <paramref name="path"/>.</summary>
    public static void Export(TextEncoder model, TextEncoderConfig config, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (config != model.Config)
        {
            throw new ArgumentException("The config passed to the exporter differs from the model's own config; export with model.Config.", nameof(config));
        }

        Save(Build(model), path);
    }

    /// <summary>The ModelProto, for callers that inspect or extend it.</summary>
    public static Onnx.ModelProto Build(TextEncoder model)
    {
        TextEncoderGraph.EnsureSupported(model);
        var config = model.Config;
        var g = new OnnxGraphBuilder("text_encoder");
        TextEncoderGraph.DeclareInputs(g);
        var hidden = TextEncoderGraph.Emit(g, model, LastHiddenState, out var embedded);
        EmitPooling(g, hidden, embedded, config, SentenceEmbedding);
        g.Output(LastHiddenState, OnnxElementType.Float, TextEncoderGraph.Batch, TextEncoderGraph.Sequence, config.Hidden);
        g.Output(SentenceEmbedding, OnnxElementType.Float, TextEncoderGraph.Batch, TextPooling.Dimensions(config.Pooling, config.Hidden));
        return g.Build(
            "Pipeline BERT-style text encoder (TorchSharp-trained).",
            new Dictionary<string, string>
            {
                ["pooling"] = config.Pooling,
                ["normalize_embedding"] = config.NormalizeEmbedding ? "true" : "false",
                ["hidden"] = config.Hidden.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["max_positions"] = config.MaxPositions.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
    }

    // Mirrors TextEncoder.Pool.
    private static void EmitPooling(OnnxGraphBuilder g, string hidden, string embedded, TextEncoderConfig config, string output)
    {
        string pooled;
        if (config.Pooling == TextPooling.Cls)
        {
            pooled = g.Node("Gather", [hidden, g.ConstInt64([0], scalar: true)], null, Attr("axis", 1L));
        }
        else
        {
            var mask = g.Node("Unsqueeze", [g.Node("Cast", [TextEncoderGraph.AttentionMask], null, Attr("to", (long)OnnxElementType.Float)), g.ConstInt64([-1])]);
            var counts = g.Node("Max", [g.Node("ReduceSum", [mask, g.ConstInt64([1])], null, Attr("keepdims", 0L)), g.ConstFloat(1e-9f)]);
            string MaskedMean(string x) => g.Node("Div", [g.Node("ReduceSum", [g.Node("Mul", [x, mask]), g.ConstInt64([1])], null, Attr("keepdims", 0L)), counts]);
            pooled = MaskedMean(hidden);
            if (config.Pooling == TextPooling.MeanFirstLast)
            {
                pooled = g.Node("Concat", [MaskedMean(embedded), pooled], null, Attr("axis", -1L));
            }
        }

        if (config.NormalizeEmbedding)
        {
            // F.normalize: x / max(||x||_2, eps).
            var norm = g.Node("ReduceL2", [pooled], null, Attr("axes", new long[] { -1 }), Attr("keepdims", 1L));
            pooled = g.Node("Div", [pooled, g.Node("Max", [norm, g.ConstFloat(1e-12f)])]);
        }

        g.Node("Identity", [pooled], output);
    }
}
