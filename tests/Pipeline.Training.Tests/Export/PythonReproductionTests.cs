using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Core.Models;
using Pipeline.Testing;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;

namespace Pipeline.Training.Tests.Export;

/// <summary>
/// A Python user gets our embeddings from the files alone. Debian has no onnxruntime and python3-onnx 1.12 has no
/// onnx.reference, so the stand-in is onnx's loader + numpy evaluating the graph per the ONNX operator specs.
/// </summary>
public class PythonReproductionTests
{
    private static readonly string Evaluator = RepositoryPaths.Combine("tests", "Pipeline.Training.Tests", "Export", "Python", "numpy_onnx_eval.py");

    [Theory]
    [InlineData(false, TextPooling.Mean, true)]
    [InlineData(true, TextPooling.Cls, false)]
    public void Onnx_plus_numpy_in_python_reproduces_ort_dotnet_outputs_within_1e4(bool preLn, string pooling, bool normalize)
    {
        using var dir = new TempDirectory();
        torch.manual_seed(31);
        var config = new TextEncoderConfig { VocabSize = 70, Hidden = 32, Heads = 4, Layers = 2, Intermediate = 64, MaxPositions = 16, PreLayerNorm = preLn, Pooling = pooling, NormalizeEmbedding = normalize };
        using var mlm = new MaskedLanguageModel(config);
        TextEncoderExportTests.Perturb(mlm);
        TextEncoderOnnxExporter.Export(mlm.encoder, config, dir.Combine("encoder.onnx"));
        MlmOnnxExporter.Export(mlm, config, dir.Combine("mlm.onnx"));

        var cases = OnnxParity.RandomTextBatches(config, seed: 9, (3, 10), (1, 1))
            .SelectMany(batch => new[] { "encoder.onnx", "mlm.onnx" }.Select(file => (Model: dir.Combine(file), Batch: batch)))
            .ToList();
        var python = RunPython(dir, cases);

        var compared = 0;
        for (var c = 0; c < cases.Count; c++)
        {
            var ort = RunOrt(cases[c].Model, cases[c].Batch);
            Assert.Equal(ort.Keys.Order(), python[c].Keys.Order());
            foreach (var (name, (shape, data)) in ort)
            {
                var (pyShape, pyData) = python[c][name];
                Assert.Equal(shape, pyShape);
                var maxDiff = data.Zip(pyData, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(maxDiff <= 1e-4, $"{Path.GetFileName(cases[c].Model)} {name} {cases[c].Batch.Name}: max |python - ORT .NET| = {maxDiff:G3}");
                compared++;
            }
        }

        Assert.Equal(2 * 3, compared); // 2 batches x (2 encoder outputs + 1 logits)
    }

    private static List<Dictionary<string, (long[] Shape, double[] Data)>> RunPython(TempDirectory dir, IReadOnlyList<(string Model, TextBatch Batch)> cases)
    {
        var json = new JsonArray(cases.Select(c => (JsonNode)new JsonObject
        {
            ["model"] = c.Model,
            ["inputs"] = new JsonObject
            {
                ["input_ids"] = Input(c.Batch, c.Batch.InputIds),
                ["attention_mask"] = Input(c.Batch, c.Batch.AttentionMask),
                ["token_type_ids"] = Input(c.Batch, c.Batch.TokenTypeIds),
            },
        }).ToArray());
        var casesPath = dir.Combine("cases.json");
        var resultsPath = dir.Combine("results.json");
        File.WriteAllText(casesPath, json.ToJsonString());
        var (exitCode, output) = PythonOnnx.Run(
            "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
            Evaluator, casesPath, resultsPath);
        Assert.True(exitCode == 0, output);

        var results = new List<Dictionary<string, (long[], double[])>>();
        foreach (var item in JsonNode.Parse(File.ReadAllText(resultsPath))!.AsArray())
        {
            var result = new Dictionary<string, (long[], double[])>();
            foreach (var (name, value) in item!.AsObject())
            {
                result[name] = (value!["shape"]!.Deserialize<long[]>()!, value["data"]!.Deserialize<double[]>()!);
            }

            results.Add(result);
        }

        return results;
    }

    private static JsonObject Input(TextBatch batch, long[] data) => new()
    {
        ["dtype"] = "int64",
        ["shape"] = new JsonArray(batch.Batch, batch.Length),
        ["data"] = new JsonArray(data.Select(v => (JsonNode)v).ToArray()),
    };

    private static Dictionary<string, (long[] Shape, double[] Data)> RunOrt(string model, TextBatch batch)
    {
        using var session = new InferenceSession(model);
        long[] shape = [batch.Batch, batch.Length];
        using var ids = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(batch.TokenTypeIds, shape);
        var outputNames = session.OutputNames.ToList();
        using var results = session.Run(new RunOptions(), ["input_ids", "attention_mask", "token_type_ids"], [ids, mask, types], outputNames);
        var map = new Dictionary<string, (long[], double[])>();
        for (var i = 0; i < outputNames.Count; i++)
        {
            map[outputNames[i]] = (results[i].GetTensorTypeAndShape().Shape, results[i].GetTensorDataAsSpan<float>().ToArray().Select(f => (double)f).ToArray());
        }

        return map;
    }
}
