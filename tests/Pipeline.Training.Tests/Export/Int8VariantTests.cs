using Onnx;
using Pipeline.Core.Models;
using Pipeline.Testing;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;

namespace Pipeline.Training.Tests.Export;

public class Int8VariantTests
{
    private static readonly TextEncoderConfig Small = new() { VocabSize = 120, Hidden = 64, Heads = 2, Layers = 2, Intermediate = 128, MaxPositions = 32 };

    private static List<TokenBatch> HeldOut(int seed) => OnnxParity.RandomTextBatches(Small, seed, (4, 16), (4, 32), (2, 9))
        .Select(b => new TokenBatch(b.InputIds, b.AttentionMask, b.Batch, b.Length)).ToList();

    [Fact]
    public void Quantised_encoder_and_mlm_stay_within_tolerance_and_use_DynamicQuantizeMatMul()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(31);
        using var model = new MaskedLanguageModel(Small);
        TextEncoderExportTests.Perturb(model);
        model.eval();
        var encoder = dir.Combine("encoder.onnx");
        var mlm = dir.Combine("mlm.onnx");
        TextEncoderOnnxExporter.Export(model.encoder, Small, encoder);
        MlmOnnxExporter.Export(model, Small, mlm);

        var report = Int8Variant.Create(encoder, mlm, HeldOut(5));

        Assert.True(report.Passed, report.Failure);
        Assert.Equal(10, report.Sequences);
        Assert.InRange(report.EmbeddingCosineMean, Int8Report.MinMeanCosine, 1.0 + 1e-6);
        Assert.InRange(report.FillMaskTop1Agreement, Int8Report.MinTop1Agreement, 1.0);
        Assert.True(report.FillMaskPositions > 0);
        Assert.True(report.Int8Bytes < report.Fp32Bytes, $"{report.Int8Bytes} >= {report.Fp32Bytes}");

        // Per layer: the packed QKV projection, attention output, FFN in and out; attention's own MatMuls stay float
        // and no MatMul with a float weight initializer is left.
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(dir.Combine(Int8Variant.EncoderFile)));
        var weights = proto.Graph.Initializer.Select(t => t.Name).ToHashSet();
        Assert.Equal(4 * Small.Layers, report.QuantizedMatMuls);
        Assert.Equal(4 * Small.Layers, proto.Graph.Node.Count(n => n.OpType == "DynamicQuantizeMatMul" && n.Domain == OnnxInt8Quantizer.Domain));
        Assert.DoesNotContain(proto.Graph.Node, n => n.OpType == "MatMul" && weights.Contains(n.Input[1]));
        Assert.Contains(proto.Graph.Node, n => n.OpType == "MatMul");
        Assert.Contains(proto.OpsetImport, o => o.Domain == OnnxInt8Quantizer.Domain);
        Assert.True(File.Exists(dir.Combine(Int8Variant.MlmFile)));
    }

    [Fact]
    public void Gate_refuses_a_variant_whose_accuracy_change_is_too_large()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(32);
        using var model = new MaskedLanguageModel(Small);
        TextEncoderExportTests.Perturb(model);
        model.eval();
        var encoder = dir.Combine("encoder.onnx");
        TextEncoderOnnxExporter.Export(model.encoder, Small, encoder);

        // Two-bit weights (-1, 0, 1 per column scale) change the function far beyond the tolerance.
        var report = Int8Variant.Create(encoder, null, HeldOut(6), weightBits: 2);

        Assert.False(report.Passed);
        Assert.Contains("cosine", report.Failure);
        Assert.True(report.EmbeddingCosineMean < Int8Report.MinMeanCosine);
        Assert.True(double.IsNaN(report.FillMaskTop1Agreement));
    }

    [Fact]
    public void Column_quantisation_round_trips_within_half_a_step()
    {
        var w = new float[] { 0.5f, -2f, 0f, 0.25f, 1f, 0f, -0.125f, 0.75f, 0f };
        var (q, scales) = OnnxInt8Quantizer.QuantizeColumns(w, 3, 3, 127);

        Assert.Equal(1f, scales[2]); // an all-zero column keeps a usable scale
        Assert.Equal(new sbyte[] { 127, -127, 0, 64, 64, 0, -32, 48, 0 }, q);
        for (var i = 0; i < w.Length; i++)
        {
            Assert.InRange(Math.Abs((q[i] * scales[i % 3]) - w[i]), 0, (scales[i % 3] / 2) + 1e-7);
        }
    }
}
