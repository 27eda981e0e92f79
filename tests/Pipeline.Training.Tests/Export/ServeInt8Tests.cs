using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Cli.Commands;
using Pipeline.Core.Models;
using Pipeline.Core.Storage;
using Pipeline.Testing;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;

namespace Pipeline.Training.Tests.Export;

/// <summary>
/// `pipeline serve` against a registry on Azurite holding an exported encoder and its int8 variant: the default answer
/// is fp32, ?variant=int8 answers with the quantised graph (exactly what ONNX Runtime gives on encoder.int8.onnx, close
/// to fp32), a version published without int8 is a 404 for ?variant=int8, and Ctrl+C (cancellation) stops it cleanly.
/// </summary>
[Collection(AzuriteCollection.Name)]
public class ServeInt8Tests(AzuriteFixture azurite)
{
    private static readonly string[] Words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "home"];

    [Fact]
    public async Task Serve_command_answers_fp32_and_int8_variants_from_the_registry_and_stops_on_cancel()
    {
        using var dir = new TempDirectory();
        torch.manual_seed(51);
        var config = new TextEncoderConfig { VocabSize = Words.Length + 5, Hidden = 64, Heads = 2, Layers = 2, Intermediate = 128, MaxPositions = 16 };
        using var model = new MaskedLanguageModel(config);
        TextEncoderExportTests.Perturb(model);
        model.eval();
        var encoder = dir.Combine("encoder.onnx");
        TextEncoderOnnxExporter.Export(model.encoder, config, encoder);
        var heldOut = OnnxParity.RandomTextBatches(config, seed: 9, (4, 16)).Select(b => new TokenBatch(b.InputIds, b.AttentionMask, b.Batch, b.Length)).ToList();
        var report = Int8Variant.Create(encoder, null, heldOut);
        Assert.True(report.Passed, report.Failure);

        var blobs = await azurite.CreateLayoutAsync();
        var models = blobs.GetBlobContainerClient(BlobLayout.Models);
        var name = $"serve-{Guid.NewGuid():N}"[..20];
        var vocab = string.Join('\n', new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }.Concat(Words)) + "\n";
        foreach (var version in new[] { "1", "2" })
        {
            await models.GetBlobClient($"{name}/{version}/encoder.onnx").UploadAsync(encoder, overwrite: true);
            await models.GetBlobClient($"{name}/{version}/vocab.txt").UploadAsync(BinaryData.FromString(vocab), overwrite: true);
            await models.GetBlobClient($"{name}/{version}/config.json").UploadAsync(BinaryData.FromString("""{"maxPositions":16,"pooling":"mean"}"""), overwrite: true);
        }

        // Only version 2 has the int8 variant.
        await models.GetBlobClient($"{name}/2/{Int8Variant.EncoderFile}").UploadAsync(dir.Combine(Int8Variant.EncoderFile), overwrite: true);
        await models.GetBlobClient($"{name}/latest.json").UploadAsync(BinaryData.FromString($$"""{"name":"{{name}}","version":"2"}"""), overwrite: true);

        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var command = ServeCommand.Create(address.SetResult);
        var serving = Task.Run(() => command.Parse(["--connection", azurite.ConnectionString, "--port", "0", "--threads", "1", "--cache", dir.Combine("cache")]).InvokeAsync(cancellationToken: stop.Token));
        var uri = await address.Task.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal("127.0.0.1", uri.Host);
        using var http = new HttpClient { BaseAddress = uri };

        var listed = await http.GetFromJsonAsync<JsonElement>("api/models");
        Assert.Contains(listed.GetProperty("models").EnumerateArray(), m => m.GetString() == name);

        var body = new { texts = new[] { "the cat sat on the mat", "dog ran far away home" }, normalize = true };
        var fp32 = await http.PostAsJsonAsync($"api/models/{name}/embed", body);
        var int8 = await http.PostAsJsonAsync($"api/models/{name}/embed?variant=int8", body);
        Assert.Equal(HttpStatusCode.OK, fp32.StatusCode);
        Assert.Equal(HttpStatusCode.OK, int8.StatusCode);
        var fp32Json = await fp32.Content.ReadFromJsonAsync<JsonElement>();
        var int8Json = await int8.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("fp32", fp32Json.GetProperty("variant").GetString());
        Assert.Equal("int8", int8Json.GetProperty("variant").GetString());
        Assert.Equal("2", int8Json.GetProperty("version").GetString());

        // The int8 answer is ONNX Runtime on encoder.int8.onnx, and close to fp32 (normalised vectors: dot = cosine).
        // One text alone: activations are quantised per tensor, so a batch's other rows shift the scale slightly.
        long[] ids = [2, 5, 6, 7, 8, 5, 9, 3]; // [CLS] the cat sat on the mat [SEP]
        var direct = RunDirect(dir.Combine(Int8Variant.EncoderFile), ids);
        var alone = await http.PostAsJsonAsync($"api/models/{name}/embed?variant=int8", new { texts = new[] { "the cat sat on the mat" }, normalize = true });
        var servedInt8 = Vector(await alone.Content.ReadFromJsonAsync<JsonElement>(), 0);
        var servedFp32 = Vector(fp32Json, 0);
        var norm = MathF.Sqrt(direct.Sum(x => x * x));
        Assert.True(direct.Select((x, i) => Math.Abs((x / norm) - servedInt8[i])).Max() < 1e-4);
        Assert.True(servedInt8.Zip(servedFp32, (a, b) => a * b).Sum() > 0.99f);
        Assert.False(servedInt8.SequenceEqual(servedFp32));
        Assert.True(Vector(int8Json, 1).Zip(Vector(fp32Json, 1), (a, b) => a * b).Sum() > 0.99f);

        // Version 1 was published without int8: a 404 problem that says so; a bad variant name is a 400.
        var missing = await http.PostAsJsonAsync($"api/models/{name}/embed?version=1&variant=int8", body);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("int8", await missing.Content.ReadAsStringAsync());
        var bad = await http.PostAsJsonAsync($"api/models/{name}/embed?variant=int4", body);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        await stop.CancelAsync();
        Assert.Equal(0, await serving.WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync("api/inference/health"));
    }

    private static float[] Vector(JsonElement response, int index) =>
        response.GetProperty("embeddings")[index].EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private static float[] RunDirect(string path, long[] ids)
    {
        using var session = new InferenceSession(path);
        long[] shape = [1, ids.Length];
        using var a = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var m = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), shape);
        using var t = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
        using var runOptions = new RunOptions();
        using var r = session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [a, m, t], ["sentence_embedding"]);
        return r[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
