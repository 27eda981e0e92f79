using Google.Protobuf;
using Onnx;

namespace Pipeline.Tests.Inference;

/// <summary>
/// Tiny ONNX models written with OnnxSharp's protobuf classes (no TorchSharp in this test project), with the same
/// inputs and outputs as the exported encoders: a text encoder (embeddings + one tanh layer, masked mean pooling),
/// an MLM head over it, and an image encoder (flatten + linear + tanh). Weights are seeded, so runs repeat.
/// </summary>
public static class TinyOnnxModels
{
    public const int Hidden = 16;

    public static byte[] TextEncoder(int vocab, int seed, bool withMlmHead = false)
    {
        var rng = new Random(seed);
        var graph = new GraphProto { Name = withMlmHead ? "tiny-mlm" : "tiny-encoder" };
        graph.Input.Add(Int64Input("input_ids"));
        graph.Input.Add(Int64Input("attention_mask"));
        graph.Input.Add(Int64Input("token_type_ids"));
        graph.Initializer.Add(Floats("word_embeddings", [vocab, Hidden], rng, 1.0f));
        graph.Initializer.Add(Floats("type_embeddings", [2, Hidden], rng, 0.1f));
        graph.Initializer.Add(Floats("dense_w", [Hidden, Hidden], rng, 0.5f));
        graph.Initializer.Add(Floats("dense_b", [Hidden], rng, 0.1f));
        graph.Initializer.Add(Int64s("axis_last", [1], [-1]));
        graph.Initializer.Add(Int64s("axis_seq", [1], [1]));
        graph.Initializer.Add(Floats("eps", [], [1e-9f]));
        graph.Node.Add(Node("Gather", ["word_embeddings", "input_ids"], ["words"]));
        graph.Node.Add(Node("Gather", ["type_embeddings", "token_type_ids"], ["types"]));
        graph.Node.Add(Node("Add", ["words", "types"], ["embedded"]));
        graph.Node.Add(Node("MatMul", ["embedded", "dense_w"], ["projected"]));
        graph.Node.Add(Node("Add", ["projected", "dense_b"], ["biased"]));
        graph.Node.Add(Node("Tanh", ["biased"], ["last_hidden_state"]));
        if (withMlmHead)
        {
            graph.Initializer.Add(Floats("mlm_w", [Hidden, vocab], rng, 1.0f));
            graph.Node.Add(Node("MatMul", ["last_hidden_state", "mlm_w"], ["logits"]));
            graph.Output.Add(FloatOutput("logits", "batch", "sequence", vocab.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        else
        {
            graph.Node.Add(Node("Cast", ["attention_mask"], ["mask_f"], new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float }));
            graph.Node.Add(Node("Unsqueeze", ["mask_f", "axis_last"], ["mask_3d"]));
            graph.Node.Add(Node("Mul", ["last_hidden_state", "mask_3d"], ["masked"]));
            graph.Node.Add(Node("ReduceSum", ["masked", "axis_seq"], ["summed"], KeepDims(0)));
            graph.Node.Add(Node("ReduceSum", ["mask_3d", "axis_seq"], ["count"], KeepDims(0)));
            graph.Node.Add(Node("Max", ["count", "eps"], ["count_safe"]));
            graph.Node.Add(Node("Div", ["summed", "count_safe"], ["sentence_embedding"]));
            graph.Output.Add(FloatOutput("last_hidden_state", "batch", "sequence", "16"));
            graph.Output.Add(FloatOutput("sentence_embedding", "batch", "16"));
        }

        return Model(graph);
    }

    /// <summary>pixel_values [batch, channels, height, width] -> embedding [batch, dims].</summary>
    public static byte[] ImageEncoder(int channels, int height, int width, int dims, int seed)
    {
        var rng = new Random(seed);
        var graph = new GraphProto { Name = "tiny-image-encoder" };
        graph.Input.Add(new ValueInfoProto
        {
            Name = "pixel_values",
            Type = TensorType(TensorProto.Types.DataType.Float, "batch", $"{channels}", $"{height}", $"{width}"),
        });
        var inputs = channels * height * width;
        graph.Initializer.Add(Floats("w", [inputs, dims], rng, 1.0f / MathF.Sqrt(inputs)));
        graph.Node.Add(Node("Flatten", ["pixel_values"], ["flat"], new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Node.Add(Node("MatMul", ["flat", "w"], ["projected"]));
        graph.Node.Add(Node("Tanh", ["projected"], ["embedding"]));
        graph.Output.Add(FloatOutput("embedding", "batch", $"{dims}"));
        return Model(graph);
    }

    /// <summary>A BERT vocab.txt: the five specials, then the given words.</summary>
    public static string Vocab(IEnumerable<string> words) =>
        string.Join('\n', new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }.Concat(words)) + "\n";

    private static byte[] Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "pipeline-tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{outputs[0]}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto KeepDims(long value) => new() { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static ValueInfoProto Int64Input(string name) =>
        new() { Name = name, Type = TensorType(TensorProto.Types.DataType.Int64, "batch", "sequence") };

    private static ValueInfoProto FloatOutput(string name, params string[] dims) =>
        new() { Name = name, Type = TensorType(TensorProto.Types.DataType.Float, dims) };

    private static TypeProto TensorType(TensorProto.Types.DataType type, params string[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(long.TryParse(d, out var value) ? new TensorShapeProto.Types.Dimension { DimValue = value } : new TensorShapeProto.Types.Dimension { DimParam = d });
        }

        return new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } };
    }

    private static TensorProto Floats(string name, long[] dims, Random rng, float scale)
    {
        var count = dims.Aggregate(1L, (a, b) => a * b);
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = (float)((rng.NextDouble() * 2) - 1) * scale;
        }

        return Floats(name, dims, values);
    }

    private static TensorProto Floats(string name, long[] dims, float[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        tensor.RawData = ByteString.CopyFrom(bytes);
        return tensor;
    }

    private static TensorProto Int64s(string name, long[] dims, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.AddRange(dims);
        tensor.Int64Data.AddRange(values);
        return tensor;
    }
}
