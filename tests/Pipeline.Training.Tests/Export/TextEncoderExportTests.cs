using Pipeline.Core.Models;
using Pipeline.Core.Registry;
using Pipeline.Testing;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;

namespace Pipeline.Training.Tests.Export;

public class TextEncoderExportTests
{
    private static readonly TextEncoderConfig Tiny = new() { VocabSize = 60, Hidden = 32, Heads = 4, Layers = 2, Intermediate = 64, MaxPositions = 24 };

    private static readonly (int, int)[] Shapes = [(1, 1), (1, 9), (3, 7), (5, 24)];

    [Theory]
    [InlineData(true, TextPooling.Mean, false)]
    [InlineData(false, TextPooling.Cls, true)]
    [InlineData(false, TextPooling.Mean, true)]
    [InlineData(true, TextPooling.MeanFirstLast, false)]
    [InlineData(false, TextPooling.MeanFirstLast, true)]
    public void Onnx_runtime_matches_torchsharp_within_1e4_at_several_shapes_with_padding(bool preLn, string pooling, bool normalize)
    {
        using var dir = new TempDirectory();
        torch.manual_seed(11);
        var config = Tiny with { PreLayerNorm = preLn, Pooling = pooling, NormalizeEmbedding = normalize };
        using var model = new TextEncoder(config);
        Perturb(model); // LayerNorm at (1, 0) and zero biases would hide a wrong parameter mapping.
        var path = dir.Combine("encoder.onnx");

        TextEncoderOnnxExporter.Export(model, config, path);
        var report = OnnxParity.CheckTextEncoder(model, path, OnnxParity.RandomTextBatches(config, seed: 5, Shapes));

        Assert.True(report.Passed, report.Failure);
        Assert.InRange(report.MaxAbsDiff, 0, 1e-4);
        Assert.Equal(Shapes.Length * 2, report.Comparisons.Count);
        Assert.Contains(report.Comparisons, c => c.Output == "sentence_embedding" && c.Shape.SequenceEqual(new long[] { 5, pooling == TextPooling.MeanFirstLast ? 64 : 32 }));
        Assert.Contains(report.Comparisons, c => c.Output == "last_hidden_state" && c.Shape.SequenceEqual(new long[] { 3, 7, 32 }));
    }

    [Fact]
    public void Parity_report_round_trips_through_parity_json()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(12);
        using var model = new TextEncoder(Tiny);
        var path = dir.Combine("encoder.onnx");
        TextEncoderOnnxExporter.Export(model, Tiny, path);
        var report = OnnxParity.CheckTextEncoder(model, path, OnnxParity.RandomTextBatches(Tiny, seed: 1, (2, 5)));

        report.WriteJson(dir.Combine("parity.json"));
        var read = ParityReport.Read(File.ReadAllText(dir.Combine("parity.json")));

        Assert.True(read.Passed);
        Assert.Equal(report.MaxAbsDiff, read.MaxAbsDiff);
        Assert.Equal("encoder.onnx", read.Model);
        Assert.Equal(2, read.Comparisons.Count);
    }

    [Fact]
    public void Gate_fails_and_names_the_output_when_the_model_changes_after_export()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(13);
        using var model = new TextEncoder(Tiny);
        var path = dir.Combine("encoder.onnx");
        TextEncoderOnnxExporter.Export(model, Tiny, path);
        using (torch.no_grad())
        {
            // One position embedding row: only tokens at position 3 (and the pooled mean) move. Not a constant
            // shift: LayerNorm would remove that exactly.
            model.embeddings.position_embeddings.weight![3].add_(torch.randn(Tiny.Hidden));
        }

        var report = OnnxParity.CheckTextEncoder(model, path, OnnxParity.RandomTextBatches(Tiny, seed: 2, (2, 6)));

        Assert.False(report.Passed);
        Assert.True(report.MaxAbsDiff > 1e-2);
        Assert.Contains("last_hidden_state", report.Failure);
        var hidden = report.Comparisons.Single(c => c.Output == "last_hidden_state");
        Assert.Equal(3, hidden.WorstIndex[1]);
    }

    [Fact]
    public void Inputs_and_outputs_have_the_agreed_names_types_and_dynamic_dims()
    {
        torch.manual_seed(14);
        using var model = new TextEncoder(Tiny);
        var proto = TextEncoderOnnxExporter.Build(model);

        Assert.Equal(8, proto.IrVersion);
        Assert.Equal(17, proto.OpsetImport.Single().Version);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], proto.Graph.Input.Select(i => i.Name));
        Assert.All(proto.Graph.Input, i =>
        {
            Assert.Equal(7, i.Type.TensorType.ElemType); // int64
            Assert.Equal(["batch", "sequence"], i.Type.TensorType.Shape.Dim.Select(d => d.DimParam));
        });
        Assert.Equal(["last_hidden_state", "sentence_embedding"], proto.Graph.Output.Select(o => o.Name));
        Assert.All(proto.Graph.Initializer, t => Assert.False(t.RawData.IsEmpty));
        Assert.Contains(proto.Graph.Node, n => n.OpType == "LayerNormalization");
        Assert.Contains(proto.Graph.Node, n => n.OpType == "Erf");
    }

    [Fact]
    public void Exporter_refuses_a_config_that_is_not_the_models()
    {
        torch.manual_seed(15);
        using var model = new TextEncoder(Tiny);
        var error = Assert.Throws<ArgumentException>(() => TextEncoderOnnxExporter.Export(model, Tiny with { Pooling = TextPooling.Cls }, "unused.onnx"));
        Assert.Contains("config", error.Message);
    }

    [Fact]
    public void Debian_onnx_checker_accepts_the_encoder_and_the_mlm_model_with_full_check()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(16);
        using var mlm = new MaskedLanguageModel(Tiny with { PreLayerNorm = false, NormalizeEmbedding = true });
        TextEncoderOnnxExporter.Export(mlm.encoder, mlm.Config, dir.Combine("encoder.onnx"));
        MlmOnnxExporter.Export(mlm, mlm.Config, dir.Combine("mlm.onnx"));

        foreach (var file in new[] { "encoder.onnx", "mlm.onnx" })
        {
            var (exitCode, output) = PythonOnnx.Check(dir.Combine(file));
            Assert.True(exitCode == 0, $"{file}: {output}");
            Assert.Contains("ok ir 8 opset 17", output);
        }
    }

    [Fact]
    public void Debian_onnx_checker_rejects_a_broken_graph()
    {
        using var dir = new TempDirectory();
        var g = new OnnxGraphBuilder("broken");
        g.Input("x", OnnxElementType.Float, "batch", 4);
        // LayerNormalization with no scale input is invalid (Scale is required).
        g.Node("LayerNormalization", ["x"], "y");
        g.Output("y", OnnxElementType.Float, "batch", 4);
        OnnxGraphBuilder.Save(g.Build(), dir.Combine("broken.onnx"));

        var (exitCode, output) = PythonOnnx.Check(dir.Combine("broken.onnx"));

        Assert.NotEqual(0, exitCode);
        Assert.Contains("LayerNormalization", output);
    }

    /// <summary>Moves every parameter off its init value so a swapped weight/bias/scale would show in parity.</summary>
    internal static void Perturb(torch.nn.Module model)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, p) in model.named_parameters())
        {
            p.add_(torch.randn_like(p) * 0.05f);
        }
    }
}
