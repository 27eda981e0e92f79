using System.Net.Http.Json;
using System.Text.Json;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Hosting;
using Pipeline.Orchestration.Services;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

/// <summary>Helpers shared by the end-to-end and fault tests: a local host on the shared Azurite, uploads, waits.</summary>
internal static class PipelineRun
{
    public static LocalHostOptions Options(AzuriteFixture azurite, TempDirectory temp, string taskHub, PipelineOptions? pipeline = null) => new()
    {
        StorageConnection = azurite.ConnectionString,
        DataFolder = temp.Path,
        TaskHub = taskHub,
        Pipeline = pipeline ?? DemoDefaults.Pipeline(steps: 30),
        WatchInterval = TimeSpan.FromMilliseconds(500),
        LogLevel = Environment.GetEnvironmentVariable("PIPELINE_TEST_LOG") is { Length: > 0 } ? LogLevel.Information : LogLevel.Warning,
        TrainerEnvironment = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "2" },
        ConfigureLogging = Environment.GetEnvironmentVariable("PIPELINE_TEST_LOG") == "trace" ? b =>
        {
            b.AddFilter("DurableTask", LogLevel.Information);
            b.AddFilter("Microsoft.DurableTask", LogLevel.Debug);
            b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        } : null,
    };

    public static async Task UploadCorpusAsync(LocalPipelineHost host, string dataset)
    {
        var unlabeled = host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        foreach (var (name, text) in DemoDefaults.Corpus())
        {
            await unlabeled.GetBlobClient($"{dataset}/{name}").UploadAsync(BinaryData.FromString(text), overwrite: true);
        }
    }

    public static async Task<int> CountAsync(LocalPipelineHost host, string container, string prefix)
    {
        var n = 0;
        await foreach (var _ in host.Blobs.GetBlobContainerClient(container).GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix, default))
        {
            n++;
        }

        return n;
    }

    /// <summary>Distinct accepted contents: datasets/{dataset}/index/{sha256}.json, not the .duplicates/ records.</summary>
    public static async Task<int> CountIndexEntriesAsync(LocalPipelineHost host, string dataset)
    {
        var n = 0;
        await foreach (var item in host.Blobs.GetBlobContainerClient(BlobLayout.Datasets).GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{dataset}/index/", default))
        {
            n += item.IsBlob ? 1 : 0;
        }

        return n;
    }

    /// <summary>Checkpoints whose complete.json marker (written last) exists: the ones a relaunch can resume from.</summary>
    public static async Task<int> CountCompleteCheckpointsAsync(LocalPipelineHost host, string runId, string jobId)
    {
        var n = 0;
        await foreach (var item in host.Blobs.GetBlobContainerClient(BlobLayout.Runs).GetBlobsAsync(BlobTraits.None, BlobStates.None, $"{runId}/{jobId}/checkpoints/", default))
        {
            n += item.Name.EndsWith("/complete.json", StringComparison.Ordinal) ? 1 : 0;
        }

        return n;
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what}.");
            }

            await Task.Delay(300);
        }
    }

    public static async Task<RunStatus> WaitForRunAsync(LocalPipelineHost host, string instanceId, TimeSpan timeout)
    {
        RunStatus? status = null;
        await UntilAsync(async () => (status = await host.Api.StatusAsync(instanceId, default)) is { IsFinished: true }, timeout, $"run {instanceId} to finish");
        return status!;
    }

    public static async Task<string> SealOverHttpAsync(LocalPipelineHost host, string dataset)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        using var response = await http.PostAsync($"api/datasets/{dataset}/seal", null);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("id").GetString()!;
    }

    public static async Task<float[][]> EmbedOverHttpAsync(LocalPipelineHost host, string model, IReadOnlyList<string> texts)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        using var response = await http.PostAsJsonAsync($"api/models/{model}/embed", new { texts, normalize = false });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("embeddings").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
    }

    public static string TaskHub(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];
}
