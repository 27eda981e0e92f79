using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Export;

/// <summary>
/// Builds an ONNX ModelProto (IR 8, opset 17) with OnnxSharp's generated classes: typed graph inputs/outputs with
/// named dynamic dimensions, raw-data initializers and nodes with auto-named outputs. IR 8 / opset 17 is what
/// Debian's python3-onnx (1.12) checks and what ONNX Runtime 1.31 runs with every fusion we rely on.
/// </summary>
public sealed class OnnxGraphBuilder
{
    public const long IrVersion = 8;
    public const long OpsetVersion = 17;

    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string graphName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(graphName);
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>Declares a graph input. Each dim is an int/long (fixed) or a string (dynamic, named, e.g. "batch").</summary>
    public string Input(string name, OnnxElementType type, params object[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares a graph output; <paramref name="name"/> must be produced by a node (see <see cref="Node"/>'s output).</summary>
    public void Output(string name, OnnxElementType type, params object[] dims)
    {
        if (!_names.Contains(name))
        {
            throw new InvalidOperationException($"Graph output '{name}' is not produced by any node or input; name a node's output '{name}' first.");
        }

        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    /// <summary>A float32 initializer stored as little-endian raw data.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims) =>
        AddInitializer(name, OnnxElementType.Float, MemoryMarshal.AsBytes(values), values.Length, dims);

    /// <summary>An int64 initializer stored as little-endian raw data.</summary>
    public string Initializer(string name, ReadOnlySpan<long> values, params long[] dims) =>
        AddInitializer(name, OnnxElementType.Int64, MemoryMarshal.AsBytes(values), values.Length, dims);

    /// <summary>A float32 initializer copied from a TorchSharp tensor (any device/dtype), with its shape.</summary>
    public string Initializer(string name, Tensor tensor)
    {
        using var scope = NewDisposeScope();
        var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
        var data = cpu.data<float>().ToArray();
        return Initializer(name, data, cpu.shape);
    }

    /// <summary>A float32 initializer holding the transpose of a 2-D TorchSharp tensor (Linear weight [out, in] -> [in, out] for MatMul).</summary>
    public string InitializerTransposed(string name, Tensor matrix)
    {
        if (matrix.dim() != 2)
        {
            throw new ArgumentException($"Expected a 2-D tensor for '{name}', got shape [{string.Join(", ", matrix.shape)}].", nameof(matrix));
        }

        using var t = matrix.detach().t();
        return Initializer(name, t);
    }

    /// <summary>An anonymous int64 constant (shape vector, axes, indices). A scalar when <paramref name="scalar"/> is true.</summary>
    public string ConstInt64(long[] values, bool scalar = false)
    {
        if (scalar && values.Length != 1)
        {
            throw new ArgumentException("A scalar constant has exactly one value.", nameof(values));
        }

        return AddInitializer(Fresh("const_i64"), OnnxElementType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), values.Length, scalar ? [] : [values.Length], claim: false);
    }

    /// <summary>An anonymous float32 scalar constant.</summary>
    public string ConstFloat(float value)
    {
        ReadOnlySpan<float> values = [value];
        return AddInitializer(Fresh("const_f32"), OnnxElementType.Float, MemoryMarshal.AsBytes(values), 1, [], claim: false);
    }

    /// <summary>Adds a node with one output and returns the output's name (<paramref name="output"/> or a fresh one).</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, string? output = null, params AttributeProto[] attributes) =>
        NodeMulti(opType, inputs, output is null ? 1 : 0, output is null ? [] : [output], attributes)[0];

    /// <summary>Adds a node with several outputs: the given names, then <paramref name="freshOutputs"/> generated ones.</summary>
    public IReadOnlyList<string> NodeMulti(string opType, IReadOnlyList<string> inputs, int freshOutputs, IReadOnlyList<string> namedOutputs, params AttributeProto[] attributes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(opType);
        foreach (var input in inputs)
        {
            // "" is ONNX's "optional input omitted".
            if (input.Length > 0 && !_names.Contains(input))
            {
                throw new InvalidOperationException($"Node {opType} reads '{input}', which nothing defines yet.");
            }
        }

        var node = new NodeProto { OpType = opType, Name = Fresh(opType) };
        node.Input.AddRange(inputs);
        foreach (var name in namedOutputs)
        {
            Claim(name);
            node.Output.Add(name);
        }

        for (var i = 0; i < freshOutputs; i++)
        {
            var name = Fresh(opType.ToLowerInvariant() + "_out");
            node.Output.Add(name);
        }

        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return node.Output.ToList();
    }

    /// <summary>The finished model. Metadata entries become ModelProto.metadata_props.</summary>
    public ModelProto Build(string docString = "", IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "Pipeline",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = docString,
            Graph = _graph.Clone(),
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return model;
    }

    /// <summary>Writes the model as a single .onnx file (weights inline), creating the folder.</summary>
    public static void Save(ModelProto model, string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Attr(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Attr(string name, float[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }

    /// <summary>A name not used yet, "{prefix}_{n}".</summary>
    public string Fresh(string prefix)
    {
        while (true)
        {
            _counters.TryGetValue(prefix, out var n);
            _counters[prefix] = n + 1;
            var name = $"{prefix}_{n}";
            if (!_names.Contains(name))
            {
                _names.Add(name);
                return name;
            }
        }
    }

    private string AddInitializer(string name, OnnxElementType type, ReadOnlySpan<byte> bytes, int count, long[] dims, bool claim = true)
    {
        var expected = dims.Aggregate(1L, (a, d) => a * d);
        if (expected != count)
        {
            throw new ArgumentException($"Initializer '{name}' has {count} values but shape [{string.Join(", ", dims)}] needs {expected}.");
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian; this exporter assumes a little-endian machine.");
        }

        if (claim)
        {
            Claim(name);
        }

        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        _graph.Initializer.Add(tensor);
        return name;
    }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!_names.Add(name))
        {
            throw new InvalidOperationException($"The name '{name}' is already used in graph '{_graph.Name}'.");
        }
    }

    private static ValueInfoProto ValueInfo(string name, OnnxElementType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                string param => new TensorShapeProto.Types.Dimension { DimParam = param },
                int value => new TensorShapeProto.Types.Dimension { DimValue = value },
                long value => new TensorShapeProto.Types.Dimension { DimValue = value },
                _ => throw new ArgumentException($"Dimension of '{name}' must be an int, a long or a string name, got {dim?.GetType().Name ?? "null"}."),
            });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}

/// <summary>The ONNX TensorProto element types this exporter writes (values as in onnx.proto).</summary>
public enum OnnxElementType
{
    Float = 1,
    Int64 = 7,
}
