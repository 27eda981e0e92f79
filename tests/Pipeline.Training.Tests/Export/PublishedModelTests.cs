using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Core.Models;
using Pipeline.Core.Registry;
using Pipeline.Testing;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Export;

[Collection(AzuriteCollection.Name)]
public class PublishedModelTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Exported_encoder_published_to_blob_storage_runs_in_onnx_runtime_from_the_registry_alone()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(41);
        var config = new TextEncoderConfig { VocabSize = 40, Hidden = 16, Heads = 2, Layers = 1, Intermediate = 32, MaxPositions = 12 };
        using var model = new TextEncoder(config);
        model.eval();
        var encoderPath = dir.Combine("export", "encoder.onnx");
        TextEncoderOnnxExporter.Export(model, config, encoderPath);
        var parity = OnnxParity.CheckTextEncoder(model, encoderPath, OnnxParity.RandomTextBatches(config, seed: 1, (2, 12)));
        File.WriteAllText(dir.Combine("export", "config.json"), System.Text.Json.JsonSerializer.Serialize(config, Pipeline.Core.PipelineJson.Options));
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = $"enc-{Guid.NewGuid():N}"[..16];

        var published = await registry.PublishAsync(new PublishRequest
        {
            Name = name,
            Artifacts = new Dictionary<string, ArtifactSource>
            {
                ["encoder.onnx"] = ArtifactSource.FromFile(encoderPath),
                ["config.json"] = ArtifactSource.FromFile(dir.Combine("export", "config.json")),
            },
            Parity = parity,
            Evaluation = new JsonObject { ["accuracy"] = 0.5 },
        });
        Assert.True(published.Promoted, published.NotPromotedReason);

        // From here on only the registry (Core) and ONNX Runtime: what a serving process has.
        var resolved = await registry.ResolveAsync(name);
        var local = await registry.DownloadAsync(resolved, dir.Combine("served"));
        using var session = new InferenceSession(Path.Combine(local, "encoder.onnx"));
        long[] ids = [2, 9, 14, 3, 0, 0];
        long[] mask = [1, 1, 1, 1, 0, 0];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, 6]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [1, 6]);
        using var typesValue = OrtValue.CreateTensorValueFromMemory(new long[6], [1, 6]);
        using var outputs = session.Run(new RunOptions(), ["input_ids", "attention_mask", "token_type_ids"], [idsValue, maskValue, typesValue], ["sentence_embedding"]);
        var served = outputs[0].GetTensorDataAsSpan<float>().ToArray();

        using var idsTensor = tensor(ids).reshape(1, 6);
        using var maskTensor = tensor(mask).reshape(1, 6);
        using var noGrad = torch.no_grad();
        using var hidden = model.forward(idsTensor, maskTensor, zeros_like(idsTensor));
        using var pooled = model.Pool(hidden, maskTensor);
        var expected = pooled.data<float>().ToArray();
        Assert.Equal(config.Hidden, served.Length);
        Assert.True(expected.Zip(served, (a, b) => Math.Abs(a - b)).Max() <= 1e-4);
        Assert.Equal(resolved.Sha256["encoder.onnx"], Sha256Sums.Hash(File.ReadAllBytes(encoderPath)));
    }

    [Theory]
    [InlineData("Pipeline.Core")]
    [InlineData("Pipeline.Inference")]
    public void The_registry_and_serving_assemblies_do_not_reference_torchsharp(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        var references = assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.Contains(references, r => r is "System.Runtime" or "netstandard");
        Assert.DoesNotContain(references, r => r is not null && r.StartsWith("TorchSharp", StringComparison.Ordinal));
    }
}
