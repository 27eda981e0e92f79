using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Inference;
using Pipeline.Inference.Http;
using Pipeline.Testing;

namespace Pipeline.Tests.Inference;

/// <summary>A real Kestrel on a loopback port serving MapPipelineInference over models in Azurite.</summary>
public sealed class InferenceTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempDirectory _cache;

    private InferenceTestHost(WebApplication app, TempDirectory cache, HttpClient client)
    {
        _app = app;
        _cache = cache;
        Client = client;
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<InferenceTestHost> StartAsync(BlobServiceClient blobs, Func<InferenceOptions, InferenceOptions>? configure = null)
    {
        var cache = new TempDirectory("inference-cache");
        var options = new InferenceOptions { CacheDirectory = cache.Path, LatestPollInterval = TimeSpan.Zero, IntraOpThreads = 1 };
        options = configure?.Invoke(options) ?? options;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("PIPELINE_TEST_LOG") == "1")
        {
            builder.Logging.AddSimpleConsole();
        }
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton(blobs);
        builder.Services.AddPipelineInference(options);
        var app = builder.Build();
        app.MapPipelineInference();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        return new InferenceTestHost(app, cache, client);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _cache.Dispose();
    }
}

/// <summary>Writes models into the registry layout (models/{name}/{version}/..., latest.json) the way publishing does.</summary>
public static class TestRegistry
{
    public static readonly string[] Words =
    [
        "the", "a", "cat", "dog", "sat", "ran", "on", "in", "mat", "park", "red", "blue", "big", "small", "house",
        "tree", "bird", "fish", "sea", "sky", "##s", "##ed", "and", "is", ".", ",", "!", "?",
    ];

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];

    public static int VocabSize => Words.Length + 5;

    public static string VocabText => TinyOnnxModels.Vocab(Words);

    public static string TextConfig(int maxPositions = 16) =>
        $$$"""{"encoder":{"vocabSize":{{{VocabSize}}},"hidden":{{{TinyOnnxModels.Hidden}}},"maxPositions":{{{maxPositions}}},"pooling":"mean","normalizeEmbedding":false},"normalization":{"nfkc":true,"lowercase":true,"stripAccents":true}}""";

    /// <summary>A text model: encoder.onnx, mlm.onnx, vocab.txt, config.json, SHA256SUMS, optionally classifier.json.</summary>
    public static async Task<TextModelFiles> PublishTextAsync(BlobServiceClient service, string name, string version, int seed, string? classifierJson = null, bool setLatest = true)
    {
        var files = new TextModelFiles(TinyOnnxModels.TextEncoder(VocabSize, seed), TinyOnnxModels.TextEncoder(VocabSize, seed, withMlmHead: true));
        var artifacts = new Dictionary<string, byte[]>
        {
            ["encoder.onnx"] = files.Encoder,
            ["mlm.onnx"] = files.Mlm,
            ["vocab.txt"] = Encoding.UTF8.GetBytes(VocabText),
            ["config.json"] = Encoding.UTF8.GetBytes(TextConfig()),
            ["model-card.md"] = Encoding.UTF8.GetBytes($"# {name} v{version}\nA tiny test encoder."),
            ["metrics.json"] = Encoding.UTF8.GetBytes("""{"probeAccuracy":0.5}"""),
        };
        if (classifierJson is not null)
        {
            artifacts["classifier.json"] = Encoding.UTF8.GetBytes(classifierJson);
        }

        await PublishAsync(service, name, version, artifacts, setLatest);
        return files;
    }

    public static async Task PublishAsync(BlobServiceClient service, string name, string version, IReadOnlyDictionary<string, byte[]> artifacts, bool setLatest = true)
    {
        var models = service.GetBlobContainerClient(BlobLayout.Models);
        await models.CreateIfNotExistsAsync();
        var sums = new StringBuilder();
        foreach (var (file, bytes) in artifacts)
        {
            await models.GetBlobClient(BlobLayout.ModelArtifact(name, version, file).Name).UploadAsync(BinaryData.FromBytes(bytes), overwrite: true);
            sums.Append(Convert.ToHexStringLower(SHA256.HashData(bytes))).Append("  ").Append(file).Append('\n');
        }

        await models.GetBlobClient(BlobLayout.ModelArtifact(name, version, "SHA256SUMS").Name).UploadAsync(BinaryData.FromString(sums.ToString()), overwrite: true);
        if (setLatest)
        {
            await SetLatestAsync(service, name, version);
        }
    }

    public static Task SetLatestAsync(BlobServiceClient service, string name, string version) =>
        service.GetBlobContainerClient(BlobLayout.Models).GetBlobClient(BlobLayout.LatestAlias(name).Name).UploadAsync(
            BinaryData.FromString(JsonSerializer.Serialize(new { name, version, publishedAt = DateTimeOffset.UtcNow, sha256 = "0" })), overwrite: true);
}

public sealed record TextModelFiles(byte[] Encoder, byte[] Mlm);
