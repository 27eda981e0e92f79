using Pipeline.Core.Models;
using Pipeline.Testing;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;

namespace Pipeline.Training.Tests.Export;

public class MlmExportTests
{
    private static readonly TextEncoderConfig Tiny = new() { VocabSize = 80, Hidden = 32, Heads = 2, Layers = 2, Intermediate = 48, MaxPositions = 16 };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Fill_mask_logits_match_within_1e4_and_top1_is_identical(bool preLn)
    {
        using var dir = new TempDirectory();
        torch.manual_seed(21);
        var config = Tiny with { PreLayerNorm = preLn };
        using var model = new MaskedLanguageModel(config);
        TextEncoderExportTests.Perturb(model);
        var path = dir.Combine("mlm.onnx");

        MlmOnnxExporter.Export(model, config, path);
        var report = OnnxParity.CheckMlm(model, path, OnnxParity.RandomTextBatches(config, seed: 3, (1, 4), (4, 11), (2, 16)));

        Assert.True(report.Passed, report.Failure);
        Assert.Equal(0, report.Top1Mismatches);
        Assert.InRange(report.MaxAbsDiff, 0, 1e-4);
        Assert.Contains(report.Comparisons, c => c.Output == "logits" && c.Shape.SequenceEqual(new long[] { 4, 11, 80 }));
    }

    [Fact]
    public void Decoder_stays_tied_the_file_holds_the_word_embedding_once()
    {
        torch.manual_seed(22);
        using var model = new MaskedLanguageModel(Tiny);
        var proto = MlmOnnxExporter.Build(model);

        var vocabSized = proto.Graph.Initializer.Where(t => t.Dims.Contains(Tiny.VocabSize) && t.Dims.Count == 2).ToList();
        Assert.Single(vocabSized);
        Assert.Equal("logits", proto.Graph.Output.Single().Name);
    }

    [Fact]
    public void Top1_gate_fails_when_the_head_changes_after_export()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(23);
        using var model = new MaskedLanguageModel(Tiny);
        var path = dir.Combine("mlm.onnx");
        MlmOnnxExporter.Export(model, Tiny, path);
        using (torch.no_grad())
        {
            model.decoder_bias[7].add_(100f); // token 7 now wins everywhere in TorchSharp
        }

        var report = OnnxParity.CheckMlm(model, path, OnnxParity.RandomTextBatches(Tiny, seed: 4, (2, 5)));

        Assert.False(report.Passed);
        Assert.True(report.Top1Mismatches > 0);
        Assert.Contains("top-1", report.Failure);
    }
}
