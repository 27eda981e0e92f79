using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Pipeline.Core;
using Pipeline.Core.Registry;
using Pipeline.Core.Storage;
using Pipeline.Core.Text;
using Pipeline.Ingestion.Quarantine;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Hosting;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The whole path through the local host on Azurite: real Durable engine (Azure Storage backend), real trainer child
/// process (TorchSharp MLM, ONNX export, parity vs TorchSharp), real registry and ONNX Runtime serving over HTTP.
/// </summary>
[Collection(AzuriteCollection.Name)]
[Trait("Category", "E2E")]
public sealed class EndToEndTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Uploads_become_a_served_model_whose_vectors_match_the_trained_encoder_and_bad_uploads_are_quarantined()
    {
        using var temp = new TempDirectory("e2e");
        await using var host = await LocalPipelineHost.StartAsync(PipelineRun.Options(azurite, temp, PipelineRun.TaskHub("e2e")));
        const string dataset = "e2e-corpus";
        await PipelineRun.UploadCorpusAsync(host, dataset);
        var unlabeled = host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        await unlabeled.GetBlobClient($"{dataset}/empty.txt").UploadAsync(BinaryData.FromBytes([]));
        await unlabeled.GetBlobClient($"{dataset}/blob.txt").UploadAsync(BinaryData.FromBytes(Enumerable.Range(0, 2048).Select(i => (byte)(i * 131 % 256)).ToArray()));

        // The watcher ingests every upload; bad ones are moved to quarantine with a reason, the rest go on.
        await PipelineRun.UntilAsync(async () => await PipelineRun.CountIndexEntriesAsync(host, dataset) == 4
            && await PipelineRun.CountAsync(host, BlobLayout.Quarantine, $"{dataset}/") == 4, TimeSpan.FromSeconds(90), "ingestion");
        var quarantine = new QuarantineStore(host.Blobs);
        Assert.Equal(QuarantineCodes.Empty, (await quarantine.ReadReasonAsync(dataset, "empty.txt"))!.Code);
        var binary = (await quarantine.ReadReasonAsync(dataset, "blob.txt"))!;
        Assert.False(string.IsNullOrWhiteSpace(binary.Message));
        Assert.False(await unlabeled.GetBlobClient($"{dataset}/empty.txt").ExistsAsync());

        var instanceId = await PipelineRun.SealOverHttpAsync(host, dataset);
        var status = await PipelineRun.WaitForRunAsync(host, instanceId, TimeSpan.FromMinutes(3));

        Assert.True(status.RuntimeStatus == "Completed", $"{status.RuntimeStatus}: {status.Failure}");
        var result = status.ReadOutput<PretrainResult>()!;
        // 4 accepted files x 30 paragraphs (documents); the empty and binary uploads contributed nothing.
        Assert.Equal(120, result.Dataset.Items);
        Assert.Equal(result.Dataset.Items, result.Dataset.TrainItems + result.Dataset.ValidationItems);
        var published = Assert.Single(result.Published);
        Assert.True(published.Published, published.Detail);
        Assert.True(published.Parity!.MaxAbsDiff <= 1e-4, published.Parity.Detail);
        var model = published.Model!;
        Assert.True(model.Promoted, model.NotPromotedReason);

        // The registry's parity.json: ONNX Runtime vs the trained TorchSharp encoder, measured in the trainer.
        var parity = ParityReport.Read((await host.Blobs.GetBlobContainerClient(BlobLayout.Models)
            .GetBlobClient(BlobLayout.ModelArtifact(model.Name, model.Version, "parity.json").Name).DownloadContentAsync()).Value.Content.ToString());
        Assert.True(parity.Passed && parity.MaxAbsDiff <= 1e-4, $"parity {parity.MaxAbsDiff}");

        // What the HTTP endpoint serves equals an independent ONNX Runtime run of the published encoder.onnx.
        string[] texts = ["The farmer carried a wooden boat near the river.", "A grey cat watched the broken clock in the market."];
        var served = await PipelineRun.EmbedOverHttpAsync(host, model.Name, texts);
        var expected = await IndependentEmbeddingsAsync(host, model, texts);
        Assert.Equal(expected.Length, served.Length);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(expected[i].Length, served[i].Length);
            var maxDiff = expected[i].Zip(served[i], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-4, $"text {i}: served vs ONNX max abs diff {maxDiff}");
        }

        Assert.True(served[0].Zip(served[1], (a, b) => Math.Abs(a - b)).Max() > 1e-3, "different texts must embed differently");
    }

    private static async Task<float[][]> IndependentEmbeddingsAsync(LocalPipelineHost host, PublishedModel model, string[] texts)
    {
        var models = host.Blobs.GetBlobContainerClient(BlobLayout.Models);
        var onnx = (await models.GetBlobClient(BlobLayout.ModelArtifact(model.Name, model.Version, "encoder.onnx").Name).DownloadContentAsync()).Value.Content.ToArray();
        await using var vocab = (await models.GetBlobClient(BlobLayout.ModelArtifact(model.Name, model.Version, "vocab.txt").Name).DownloadContentAsync()).Value.Content.ToStream();
        var encoder = WordPieceEncoder.Load(vocab, TextNormalization.Default);
        using var session = new InferenceSession(onnx);
        var result = new float[texts.Length][];
        for (var i = 0; i < texts.Length; i++)
        {
            var encoded = encoder.Encode(texts[i], 64);
            var n = encoded.Length;
            var ids = new DenseTensor<long>(encoded.InputIds.Select(x => (long)x).ToArray(), [1, n]);
            var mask = new DenseTensor<long>(encoded.AttentionMask.Select(x => (long)x).ToArray(), [1, n]);
            var types = new DenseTensor<long>(new long[n], [1, n]);
            using var outputs = session.Run([
                NamedOnnxValue.CreateFromTensor("input_ids", ids),
                NamedOnnxValue.CreateFromTensor("attention_mask", mask),
                NamedOnnxValue.CreateFromTensor("token_type_ids", types),
            ]);
            result[i] = outputs.First(o => o.Name == "sentence_embedding").AsTensor<float>().ToArray();
        }

        return result;
    }
}
