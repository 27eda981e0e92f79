using Pipeline.Core.Jobs;
using Pipeline.Testing;
using Pipeline.Training.Images;
using Pipeline.Training.Tests.Export;
using TorchSharp;
using TorchSharp.Modules;

namespace Pipeline.Training.Tests.Images;

public class ImageEncoderExportTests
{
    [Theory]
    [InlineData(ImageEncoderConfig.Architectures.SmallCnn)]
    [InlineData(ImageEncoderConfig.Architectures.ResNet18)]
    public void Exported_encoder_matches_torchsharp_and_passes_the_onnx_checker(string architecture)
    {
        using var temp = new TempDirectory();
        var settings = TinyImages.Settings() with { Model = new ImageEncoderConfig { Architecture = architecture, ConvChannels = [8, 16], WidthMultiplier = 0.125 } };
        using var trainer = new ImagePretrainer(Objectives.SimClr, settings, TinyImages.Optimization(3), TinyImages.Grey16);
        // BatchNorm statistics and affine terms far from the identity, so folding them into the convolutions must be right.
        using (torch.no_grad())
        {
            using var generator = SeededGenerator.Create(3);
            foreach (var bn in trainer.Encoder.modules().OfType<BatchNorm2d>())
            {
                bn.running_mean!.copy_(torch.randn(bn.running_mean.shape, generator: generator));
                bn.running_var!.copy_(torch.rand(bn.running_var.shape, generator: generator) + 0.5);
                bn.weight!.copy_(torch.randn(bn.weight.shape, generator: generator));
                bn.bias!.copy_(torch.randn(bn.bias.shape, generator: generator));
            }
        }
        var path = temp.Combine("encoder.onnx");

        ImageEncoderOnnxExporter.Export(trainer.Encoder, trainer.Config, path);
        var parity = ImageEncoderOnnxExporter.CheckParity(trainer.Encoder, trainer.Config, path);

        Assert.True(parity.Passed, parity.Failure);
        Assert.InRange(parity.MaxAbsDiff, 0, 1e-4);
        Assert.Contains(parity.Comparisons, c => c.Shape.SequenceEqual(new long[] { 5, trainer.Config.EmbeddingDim }));
        var (exitCode, output) = PythonOnnx.Check(path);
        Assert.True(exitCode == 0, output);
    }
}
