using Pipeline.Core.Models;
using Pipeline.Core.Registry;
using Pipeline.Training.Export;
using Pipeline.Training.Jobs;
using Pipeline.Training.Models.Text;

namespace Pipeline.Training.Text;

/// <summary>The export step after MLM training: writes artifact files into a folder and names them.</summary>
public interface IMlmExporter
{
    /// <param name="heldOut">Real token rows from the validation split for the parity check (may be empty).</param>
    /// <returns>Artifact name (result.json key) to local file.</returns>
    IReadOnlyDictionary<string, string> Export(MaskedLanguageModel trained, MaskedLanguageModel initial, string outputFolder, IReadOnlyList<TextBatch> heldOut, JobLog log);
}

/// <summary>
/// ONNX export with the parity gate: encoder.onnx (trained), encoder-random.onnx (the same architecture at its
/// initial weights: the evaluation baseline), mlm.onnx (fill-mask logits) and parity.json (ONNX Runtime vs TorchSharp).
/// Parity runs on held-out real text rows (the validation split's first sequences) when the job has them, plus seeded
/// random batches that cover padding and token type 1. parity.json is <see cref="ParityReport.Combine"/> of the
/// encoder's and the MLM head's reports (passes only when both pass); mlm-parity.json is the MLM's alone.
/// </summary>
public sealed class OnnxMlmExporter : IMlmExporter
{
    public IReadOnlyDictionary<string, string> Export(MaskedLanguageModel trained, MaskedLanguageModel initial, string outputFolder, IReadOnlyList<TextBatch> heldOut, JobLog log)
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

        var batches = heldOut
            .Concat(OnnxParity.RandomTextBatches(config, seed: 1234, (1, Math.Min(16, config.MaxPositions)), (4, Math.Min(64, config.MaxPositions))))
            .ToList();
        var encoderReport = OnnxParity.CheckTextEncoder(trained.encoder, encoder, batches);
        var mlmReport = OnnxParity.CheckMlm(trained, mlm, batches);
        var parity = Path.Combine(outputFolder, "parity.json");
        ParityReport.Combine($"{Path.GetFileName(encoder)}+{Path.GetFileName(mlm)}", [encoderReport, mlmReport]).WriteJson(parity);
        var mlmParity = Path.Combine(outputFolder, "mlm-parity.json");
        mlmReport.WriteJson(mlmParity);
        log.Info("onnx exported", new
        {
            encoderMaxAbsDiff = encoderReport.MaxAbsDiff,
            encoderPassed = encoderReport.Passed,
            mlmMaxAbsDiff = mlmReport.MaxAbsDiff,
            mlmPassed = mlmReport.Passed,
            mlmReport.Top1Mismatches,
            heldOutRows = heldOut.Sum(b => b.Batch),
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
