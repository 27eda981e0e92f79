using Pipeline.Core.Registry;
using Pipeline.Training.Export;
using static Pipeline.Training.Export.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

/// <summary>
/// Writes the image encoder.onnx: input pixel_values float32 [batch, C, H, W] (batch dynamic), output embedding
/// [batch, D]. The projection head / rotation classifier is not exported. Each ConvBn becomes one Conv with the
/// BatchNorm (inference statistics) folded into its weights and bias, computed in float64.
/// </summary>
public static class ImageEncoderOnnxExporter
{
    public const string PixelValues = "pixel_values";
    public const string Embedding = "embedding";
    private const string Batch = "batch";

    public static void Export(ImageEncoder encoder, ImageEncoderConfig config, string path) => Save(Build(encoder, config), path);

    public static Onnx.ModelProto Build(ImageEncoder encoder, ImageEncoderConfig config)
    {
        var g = new OnnxGraphBuilder("image_encoder");
        var x = g.Input(PixelValues, OnnxElementType.Float, Batch, config.Channels, config.Height, config.Width);
        switch (encoder)
        {
            case SmallCnn cnn:
                for (var i = 0; i < cnn.blocks.Count; i++)
                {
                    x = EmitConvBn(g, cnn.blocks[i], $"blocks.{i}", x);
                    x = g.Node("MaxPool", [x], null, Attr("kernel_shape", new long[] { 2, 2 }), Attr("strides", new long[] { 2, 2 }));
                }

                break;
            case ResNet18 resnet:
                x = EmitConvBn(g, resnet.stem, "stem", x);
                for (var i = 0; i < resnet.blocks.Count; i++)
                {
                    var block = resnet.blocks[i];
                    var residual = block.shortcut is null ? x : EmitConvBn(g, block.shortcut, $"blocks.{i}.shortcut", x);
                    var y = EmitConvBn(g, block.conv2, $"blocks.{i}.conv2", EmitConvBn(g, block.conv1, $"blocks.{i}.conv1", x));
                    x = g.Node("Relu", [g.Node("Add", [y, residual])]);
                }

                break;
            default:
                throw new NotSupportedException($"No ONNX exporter for {encoder.GetType().Name}.");
        }

        var pooled = g.Node("GlobalAveragePool", [x]);
        g.Node("Flatten", [pooled], Embedding, Attr("axis", 1L));
        g.Output(Embedding, OnnxElementType.Float, Batch, config.EmbeddingDim);
        return g.Build(
            "Pipeline image encoder (TorchSharp-trained); projection head dropped.",
            new Dictionary<string, string>
            {
                ["architecture"] = config.Architecture,
                ["embedding_dim"] = config.EmbeddingDim.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["input"] = $"{PixelValues} [batch, {config.Channels}, {config.Height}, {config.Width}] float32, see preprocessing.json",
            });
    }

    /// <summary>ORT vs TorchSharp (eval mode) on seeded random pixel batches of 1 and 5 images.</summary>
    public static ParityReport CheckParity(ImageEncoder encoder, ImageEncoderConfig config, string onnxPath, long seed = 1234)
    {
        var wasTraining = encoder.training;
        encoder.eval();
        var cases = new List<ParityCase>();
        try
        {
            using var noGrad = no_grad();
            using var generator = SeededGenerator.Create(seed);
            foreach (var batch in new[] { 1, 5 })
            {
                var pixels = randn([batch, config.Channels, config.Height, config.Width], generator: generator);
                cases.Add(new ParityCase($"random b{batch}", new Dictionary<string, Tensor> { [PixelValues] = pixels },
                    new Dictionary<string, Tensor> { [Embedding] = encoder.forward(pixels) }));
            }

            return OnnxParity.Check(onnxPath, cases);
        }
        finally
        {
            encoder.train(wasTraining);
            foreach (var t in cases.SelectMany(c => c.Inputs.Values.Concat(c.Expected.Values)))
            {
                t.Dispose();
            }
        }
    }

    private static string EmitConvBn(OnnxGraphBuilder g, ConvBn unit, string prefix, string input)
    {
        using var scope = NewDisposeScope();
        var bn = unit.bn;
        var scale = bn.weight!.detach().to_type(ScalarType.Float64) / (bn.running_var!.to_type(ScalarType.Float64) + bn.eps).sqrt();
        var weight = unit.conv.weight!.detach().to_type(ScalarType.Float64) * scale.reshape(-1, 1, 1, 1);
        var bias = bn.bias!.detach().to_type(ScalarType.Float64) - (bn.running_mean!.to_type(ScalarType.Float64) * scale);
        var kernel = unit.conv.weight!.shape[2];
        var stride = unit.conv.stride[0];
        var pad = kernel / 2;
        var w = g.Initializer($"{prefix}.weight", weight.to_type(ScalarType.Float32));
        var b = g.Initializer($"{prefix}.bias", bias.to_type(ScalarType.Float32));
        var y = g.Node("Conv", [input, w, b], null,
            Attr("kernel_shape", new long[] { kernel, kernel }), Attr("strides", new long[] { stride, stride }), Attr("pads", new long[] { pad, pad, pad, pad }));
        return unit.Relu ? g.Node("Relu", [y]) : y;
    }
}
