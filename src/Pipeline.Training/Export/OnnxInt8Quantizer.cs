using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Pipeline.Training.Export;

/// <summary>
/// Dynamic int8 quantisation of an exported graph, written by us (there is no Python onnxruntime quantiser here):
/// every MatMul whose right-hand side is a 2-D float initializer [K, N] becomes ONNX Runtime's
/// <c>com.microsoft.DynamicQuantizeMatMul</c> (activations quantised to uint8 per tensor at run time, weights int8
/// symmetric per output column, zero point 0). Attention's activation x activation MatMuls, embeddings (Gather),
/// LayerNorm and the tied decoder (its weight reaches MatMul through a Transpose) stay float.
/// </summary>
public static class OnnxInt8Quantizer
{
    public const string Domain = "com.microsoft";

    /// <summary>What was changed.</summary>
    public sealed record Summary(int QuantizedMatMuls, int SkippedMatMuls, long Fp32BytesRemoved, long Int8Bytes);

    /// <param name="weightBits">8 (range ±127) or 7 (±63: avoids the int16 saturation of u8s8 products on AVX2 without VNNI).</param>
    /// <param name="minElements">Smaller weight matrices stay float (quantising them saves nothing).</param>
    public static Summary Quantize(string inputPath, string outputPath, int weightBits = 7, long minElements = 1024)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(inputPath));
        var summary = Quantize(model, weightBits, minElements);
        OnnxGraphBuilder.Save(model, outputPath);
        return summary;
    }

    /// <summary>Rewrites <paramref name="model"/> in place.</summary>
    public static Summary Quantize(ModelProto model, int weightBits = 7, long minElements = 1024)
    {
        if (weightBits is < 2 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(weightBits), weightBits, "2..8 bits.");
        }

        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var input in graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)))
        {
            uses[input] = uses.GetValueOrDefault(input) + 1;
        }

        var quantisedWeights = new Dictionary<string, (string Q, string Scale, string Zero)>(StringComparer.Ordinal);
        int quantized = 0, skipped = 0;
        long removed = 0, added = 0;
        var qmax = (1 << (weightBits - 1)) - 1;
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || node.Domain is not ("" or "ai.onnx") || node.Input.Count != 2)
            {
                continue;
            }

            if (!initializers.TryGetValue(node.Input[1], out var weight) || weight.Dims.Count != 2
                || weight.DataType != (int)OnnxElementType.Float || weight.Dims[0] * weight.Dims[1] < minElements)
            {
                skipped++;
                continue;
            }

            if (!quantisedWeights.TryGetValue(weight.Name, out var names))
            {
                var (q, scales) = QuantizeColumns(FloatData(weight), (int)weight.Dims[0], (int)weight.Dims[1], qmax);
                names = (Unique(initializers, $"{weight.Name}_int8"), Unique(initializers, $"{weight.Name}_scale"), Unique(initializers, $"{weight.Name}_zero"));
                var qt = new TensorProto { Name = names.Q, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(q.AsSpan())) };
                qt.Dims.AddRange(weight.Dims);
                var st = new TensorProto { Name = names.Scale, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(scales.AsSpan())) };
                st.Dims.Add(scales.Length);
                var zt = new TensorProto { Name = names.Zero, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(new byte[scales.Length]) };
                zt.Dims.Add(scales.Length);
                foreach (var t in new[] { qt, st, zt })
                {
                    graph.Initializer.Add(t);
                    initializers[t.Name] = t;
                }

                quantisedWeights[weight.Name] = names;
                added += q.Length;
            }

            var weightName = node.Input[1];
            node.OpType = "DynamicQuantizeMatMul";
            node.Domain = Domain;
            node.Input[1] = names.Q;
            node.Input.Add(names.Scale);
            node.Input.Add(names.Zero);
            uses[weightName]--;
            quantized++;
        }

        // Float weights nobody reads any more leave the file.
        foreach (var name in quantisedWeights.Keys.Where(n => uses.GetValueOrDefault(n) <= 0))
        {
            var t = initializers[name];
            removed += t.RawData.Length;
            graph.Initializer.Remove(t);
        }

        if (quantized > 0 && !model.OpsetImport.Any(o => o.Domain == Domain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = 1 });
        }

        model.MetadataProps.Add(new StringStringEntryProto { Key = "quantization", Value = $"dynamic int{weightBits} weights per column (DynamicQuantizeMatMul), {quantized} MatMuls" });
        return new Summary(quantized, skipped, removed, added);
    }

    /// <summary>Symmetric per-column quantisation of a row-major [K, N] matrix: q = round(w / scale), scale = max|w| / qmax.</summary>
    public static (sbyte[] Q, float[] Scales) QuantizeColumns(ReadOnlySpan<float> w, int rows, int cols, int qmax)
    {
        var scales = new float[cols];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                scales[c] = Math.Max(scales[c], Math.Abs(w[(r * cols) + c]));
            }
        }

        for (var c = 0; c < cols; c++)
        {
            scales[c] = scales[c] > 0 ? scales[c] / qmax : 1f;
        }

        var q = new sbyte[rows * cols];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                q[(r * cols) + c] = (sbyte)Math.Clamp((int)MathF.Round(w[(r * cols) + c] / scales[c]), -qmax, qmax);
            }
        }

        return (q, scales);
    }

    private static float[] FloatData(TensorProto t) =>
        t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();

    private static string Unique(Dictionary<string, TensorProto> taken, string name)
    {
        var candidate = name;
        for (var i = 1; taken.ContainsKey(candidate); i++)
        {
            candidate = $"{name}_{i}";
        }

        return candidate;
    }
}
