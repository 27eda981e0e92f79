using Pipeline.Core.Models;
using Pipeline.Training.Export;
using Pipeline.Training.Jobs;
using Pipeline.Training.Models.Text;

namespace Pipeline.Training.Text;

/// <summary>The export step after MLM training: writes artifact files into a folder and names them.</summary>
public interface IMlmExporter
{
    /// <returns>Artifact name (result.json key) to local file.</returns>
    IReadOnlyDictionary<string, string> Export(MaskedLanguageModel trained, MaskedLanguageModel initial, string outputFolder, JobLog log);
}

/// <summary>
/// ONNX export with the parity gate: encoder.onnx (trained), encoder-random.onnx (the same architecture at its
/// initial weights: the evaluation baseline), mlm.onnx (fill-mask logits) and parity.json (ONNX Runtime vs TorchSharp).
/// parity.json holds the encoder's report, or the MLM report when that one failed; mlm-parity.json always the MLM's.
/// </summary>
public sealed class OnnxMlmExporter : IMlmExporter
{
    public IReadOnlyDictionary<string, string> Export(MaskedLanguageModel trained, MaskedLanguageModel initial, string outputFolder, JobLog log)
    {
        var config = trained.Config;
        trained.eval();
        initial.eval();
        var encoder = Path.Combine(outputFolder, "encoder.onnx");
        var random = Path.Combine(outputFolder, "encoder-random.onnx");
        var mlm = Path.Combine(outputFolder, "mlm.onnx");
        TextEncoderOnnxExporter.Export(trained.encoder, config, encoder);
        TextEncoderOnnxExporter.Export(initial.encoder, config, random);
        MlmOnnxExporter.Export(trained, config, mlm);

        var batches = OnnxParity.RandomTextBatches(config, seed: 1234, (1, Math.Min(16, config.MaxPositions)), (4, Math.Min(64, config.MaxPositions)));
        var encoderReport = OnnxParity.CheckTextEncoder(trained.encoder, encoder, batches);
        var mlmReport = OnnxParity.CheckMlm(trained, mlm, batches);
        var parity = Path.Combine(outputFolder, "parity.json");
        (mlmReport.Passed ? encoderReport : mlmReport).WriteJson(parity);
        var mlmParity = Path.Combine(outputFolder, "mlm-parity.json");
        mlmReport.WriteJson(mlmParity);
        log.Info("onnx exported", new
        {
            encoderMaxAbsDiff = encoderReport.MaxAbsDiff,
            encoderPassed = encoderReport.Passed,
            mlmMaxAbsDiff = mlmReport.MaxAbsDiff,
            mlmPassed = mlmReport.Passed,
            mlmReport.Top1Mismatches,
        });

        return new Dictionary<string, string>
        {
            ["encoder.onnx"] = encoder,
            ["encoder-random.onnx"] = random,
            ["mlm.onnx"] = mlm,
            ["parity.json"] = parity,
            ["mlm-parity.json"] = mlmParity,
        };
    }
}
