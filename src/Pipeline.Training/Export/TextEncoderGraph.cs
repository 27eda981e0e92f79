using Pipeline.Core.Models;
using Pipeline.Training.Models.Text;
using TorchSharp.Modules;
using static Pipeline.Training.Export.OnnxGraphBuilder;

namespace Pipeline.Training.Export;

/// <summary>
/// Emits <see cref="TextEncoder"/>'s forward as ONNX nodes, operation for operation (Models/Text/TextEncoder.cs is
/// the reference; change both together). Shared by the encoder and the fill-mask exporters.
/// </summary>
internal static class TextEncoderGraph
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string TokenTypeIds = "token_type_ids";
    public const string Batch = "batch";
    public const string Sequence = "sequence";

    /// <summary>The three int64 [batch, sequence] inputs.</summary>
    public static void DeclareInputs(OnnxGraphBuilder g)
    {
        g.Input(InputIds, OnnxElementType.Int64, Batch, Sequence);
        g.Input(AttentionMask, OnnxElementType.Int64, Batch, Sequence);
        g.Input(TokenTypeIds, OnnxElementType.Int64, Batch, Sequence);
    }

    /// <summary>Emits the encoder and returns the name of last_hidden_state [batch, sequence, hidden].</summary>
    public static string Emit(OnnxGraphBuilder g, TextEncoder model, string? hiddenOutputName = null) => Emit(g, model, hiddenOutputName, out _);

    /// <summary>As above; <paramref name="embeddingOutput"/> names the embedding layer's output [batch, sequence, hidden].</summary>
    public static string Emit(OnnxGraphBuilder g, TextEncoder model, string? hiddenOutputName, out string embeddingOutput)
    {
        var config = model.Config;
        var additiveMask = EmitAdditiveMask(g);
        var x = EmitEmbeddings(g, model.embeddings, config);
        embeddingOutput = x;
        for (var i = 0; i < model.blocks.Count; i++)
        {
            x = EmitBlock(g, x, model.blocks[i], config, additiveMask, $"blocks.{i}");
        }

        if (model.final_norm is not null)
        {
            x = LayerNorm(g, x, model.final_norm, "final_norm", config.LayerNormEps);
        }

        return hiddenOutputName is null ? x : g.Node("Identity", [x], hiddenOutputName);
    }

    /// <summary>Refuses architecture options the graph above does not implement, instead of exporting them wrongly.</summary>
    public static void EnsureSupported(TextEncoder model)
    {
        var config = model.Config.Validate();
        if (model.blocks.Count != config.Layers)
        {
            throw new NotSupportedException($"The encoder has {model.blocks.Count} blocks but its config says {config.Layers}.");
        }

        if (config.PreLayerNorm != model.final_norm is not null || config.PreLayerNorm == model.embeddings.layer_norm is not null)
        {
            throw new NotSupportedException("The encoder's LayerNorm placement does not match Config.PreLayerNorm.");
        }
    }

    // (1 - mask) * MaskedScore, [batch, 1, 1, sequence], as TextEncoder.AdditiveMask.
    private static string EmitAdditiveMask(OnnxGraphBuilder g)
    {
        var keep = g.Node("Cast", [AttentionMask], null, Attr("to", (long)OnnxElementType.Float));
        var keep4 = g.Node("Unsqueeze", [keep, g.ConstInt64([1, 2])]);
        var dropped = g.Node("Sub", [g.ConstFloat(1f), keep4]);
        return g.Node("Mul", [dropped, g.ConstFloat(TextEncoder.MaskedScore)], "additive_mask");
    }

    private static string EmitEmbeddings(OnnxGraphBuilder g, TextEmbeddings embeddings, TextEncoderConfig config)
    {
        var wordTable = g.Initializer("embeddings.word_embeddings.weight", embeddings.word_embeddings.weight!);
        var positionTable = g.Initializer("embeddings.position_embeddings.weight", embeddings.position_embeddings.weight!);
        var typeTable = g.Initializer("embeddings.token_type_embeddings.weight", embeddings.token_type_embeddings.weight!);

        var words = g.Node("Gather", [wordTable, InputIds]);
        // positions = arange(sequence): Range(0, Shape(input_ids)[1], 1).
        var shape = g.Node("Shape", [InputIds]);
        var length = g.Node("Gather", [shape, g.ConstInt64([1], scalar: true)], null, Attr("axis", 0L));
        var positions = g.Node("Range", [g.ConstInt64([0], scalar: true), length, g.ConstInt64([1], scalar: true)]);
        var positionVectors = g.Node("Gather", [positionTable, positions]);
        var types = g.Node("Gather", [typeTable, TokenTypeIds]);

        var x = g.Node("Add", [g.Node("Add", [words, positionVectors]), types], "embeddings_sum");
        if (embeddings.layer_norm is not null)
        {
            x = LayerNorm(g, x, embeddings.layer_norm, "embeddings.layer_norm", config.LayerNormEps);
        }

        return x;
    }

    // Mirrors TransformerBlock.forward (dropout is the identity in eval mode).
    private static string EmitBlock(OnnxGraphBuilder g, string x, TransformerBlock block, TextEncoderConfig config, string additiveMask, string prefix)
    {
        var eps = config.LayerNormEps;
        if (config.PreLayerNorm)
        {
            var attended = Attention(g, LayerNorm(g, x, block.attention_norm, $"{prefix}.attention_norm", eps), block.attention, config, additiveMask, $"{prefix}.attention");
            var h = g.Node("Add", [x, attended]);
            var ff = FeedForward(g, LayerNorm(g, h, block.ff_norm, $"{prefix}.ff_norm", eps), block, prefix);
            return g.Node("Add", [h, ff]);
        }
        else
        {
            var attended = Attention(g, x, block.attention, config, additiveMask, $"{prefix}.attention");
            var h = LayerNorm(g, g.Node("Add", [x, attended]), block.attention_norm, $"{prefix}.attention_norm", eps);
            var ff = FeedForward(g, h, block, prefix);
            return LayerNorm(g, g.Node("Add", [h, ff]), block.ff_norm, $"{prefix}.ff_norm", eps);
        }
    }

    // Mirrors SelfAttention.forward: fused qkv -> [3, b, h, t, d] -> softmax(q k^T / sqrt(d) + mask) v -> output.
    private static string Attention(OnnxGraphBuilder g, string x, SelfAttention attention, TextEncoderConfig config, string additiveMask, string prefix)
    {
        var qkv = Linear(g, x, attention.qkv, $"{prefix}.qkv");
        var split = g.Node("Reshape", [qkv, g.ConstInt64([0, 0, 3, config.Heads, config.HeadDim])]);
        var heads = g.Node("Transpose", [split], null, Attr("perm", new long[] { 2, 0, 3, 1, 4 }));
        var q = g.Node("Gather", [heads, g.ConstInt64([0], scalar: true)], null, Attr("axis", 0L));
        var k = g.Node("Gather", [heads, g.ConstInt64([1], scalar: true)], null, Attr("axis", 0L));
        var v = g.Node("Gather", [heads, g.ConstInt64([2], scalar: true)], null, Attr("axis", 0L));
        var kT = g.Node("Transpose", [k], null, Attr("perm", new long[] { 0, 1, 3, 2 }));
        var scores = g.Node("Div", [g.Node("MatMul", [q, kT]), g.ConstFloat(MathF.Sqrt(config.HeadDim))]);
        var probabilities = g.Node("Softmax", [g.Node("Add", [scores, additiveMask])], null, Attr("axis", -1L));
        var attended = g.Node("MatMul", [probabilities, v]);
        var merged = g.Node("Reshape", [g.Node("Transpose", [attended], null, Attr("perm", new long[] { 0, 2, 1, 3 })), g.ConstInt64([0, 0, config.Hidden])]);
        return Linear(g, merged, attention.output, $"{prefix}.output");
    }

    private static string FeedForward(OnnxGraphBuilder g, string x, TransformerBlock block, string prefix) =>
        Linear(g, Gelu(g, Linear(g, x, block.ff_in, $"{prefix}.ff_in")), block.ff_out, $"{prefix}.ff_out");

    /// <summary>x W^T + b with W stored transposed ([in, out]) so MatMul + Add fuse into one kernel.</summary>
    public static string Linear(OnnxGraphBuilder g, string x, Linear linear, string name)
    {
        var weight = g.InitializerTransposed($"{name}.weight", linear.weight!);
        var y = g.Node("MatMul", [x, weight]);
        return linear.bias is null ? y : g.Node("Add", [y, g.Initializer($"{name}.bias", linear.bias)]);
    }

    /// <summary>Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), in the form ONNX Runtime fuses into Gelu/BiasGelu.</summary>
    public static string Gelu(OnnxGraphBuilder g, string x)
    {
        var erf = g.Node("Erf", [g.Node("Div", [x, g.ConstFloat(MathF.Sqrt(2f))])]);
        var onePlus = g.Node("Add", [erf, g.ConstFloat(1f)]);
        return g.Node("Mul", [g.Node("Mul", [x, onePlus]), g.ConstFloat(0.5f)]);
    }

    public static string LayerNorm(OnnxGraphBuilder g, string x, LayerNorm norm, string name, double eps)
    {
        var scale = g.Initializer($"{name}.weight", norm.weight!);
        var bias = g.Initializer($"{name}.bias", norm.bias!);
        return g.Node("LayerNormalization", [x, scale, bias], null, Attr("axis", -1L), Attr("epsilon", (float)eps));
    }
}
