using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Inference;
using Pipeline.Inference.Batching;
using Pipeline.Inference.Telemetry;
using Pipeline.Testing;

namespace Pipeline.Tests.Inference;

[Collection(AzuriteCollection.Name)]
public class ServingBehaviourTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_new_latest_is_served_without_restart_and_every_answer_matches_the_version_it_names()
    {
        var blobs = await azurite.CreateLayoutAsync();
        var name = TestRegistry.UniqueName("swap");
        var v1 = await TestRegistry.PublishTextAsync(blobs, name, "1", seed: 21);
        var v2 = await TestRegistry.PublishTextAsync(blobs, name, "2", seed: 22, setLatest: false);
        await using var host = await InferenceTestHost.StartAsync(blobs);
        const string text = "the red bird sat in the tree";
        var ids = OnnxReference.Ids(text);
        var expected = new Dictionary<string, float[]>
        {
            ["1"] = OnnxReference.SentenceEmbedding(v1.Encoder, ids),
            ["2"] = OnnxReference.SentenceEmbedding(v2.Encoder, ids),
        };

        // 8 clients keep calling while latest.json moves from 1 to 2.
        var seen = new ConcurrentBag<string>();
        var failures = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var response = await host.Client.PostAsJsonAsync($"/api/models/{name}/embed", new { texts = new[] { text } });
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    continue;
                }

                var body = await response.Content.ReadFromJsonAsync<JsonElement>();
                var version = body.GetProperty("version").GetString()!;
                var actual = InferenceEndpointTests.Floats(body.GetProperty("embeddings")[0]);
                if (!expected[version].Zip(actual).All(p => Math.Abs(p.First - p.Second) < 1e-5))
                {
                    failures.Add($"version {version} answered with another version's vector");
                }

                seen.Add(version);
            }
        })).ToList();

        await WaitUntilAsync(() => seen.Count >= 20);
        await TestRegistry.SetLatestAsync(blobs, name, "2");
        var countAtSwap = seen.Count;
        await WaitUntilAsync(() => seen.Count >= countAtSwap + 40);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.Empty(failures);
        Assert.Contains("1", seen);
        Assert.Contains("2", seen);

        // Once the swap is seen, new requests get version 2; a pinned request still reaches version 1.
        var latest = await InferenceEndpointTests.PostAsync(host, $"/api/models/{name}/embed", new { texts = new[] { text } });
        Assert.Equal("2", latest.GetProperty("version").GetString());
        var pinned = await InferenceEndpointTests.PostAsync(host, $"/api/models/{name}/embed?version=1", new { texts = new[] { text } });
        Assert.Equal("1", pinned.GetProperty("version").GetString());
        OnnxReference.AssertClose(expected["1"], InferenceEndpointTests.Floats(pinned.GetProperty("embeddings")[0]));
    }

    [Fact]
    public async Task Concurrent_requests_share_forward_passes_and_get_the_vectors_they_would_get_alone()
    {
        var blobs = await azurite.CreateLayoutAsync();
        var name = TestRegistry.UniqueName("batch");
        var files = await TestRegistry.PublishTextAsync(blobs, name, "1", seed: 31);
        await using var host = await InferenceTestHost.StartAsync(blobs, o => o with { Batching = o.Batching with { MaxWait = TimeSpan.FromMilliseconds(20), Adaptive = false } });
        var words = TestRegistry.Words.Where(w => !w.StartsWith("##", StringComparison.Ordinal)).ToArray();
        var texts = Enumerable.Range(0, 32).Select(i => string.Join(' ', Enumerable.Range(0, 1 + (i % 9)).Select(j => words[(i + (j * 7)) % words.Length]))).ToArray();
        await InferenceEndpointTests.PostAsync(host, $"/api/models/{name}/embed", new { texts = new[] { "warm" } });

        var responses = await Task.WhenAll(texts.Select(t => InferenceEndpointTests.PostAsync(host, $"/api/models/{name}/embed", new { texts = new[] { t } })));

        for (var i = 0; i < texts.Length; i++)
        {
            var expected = OnnxReference.SentenceEmbedding(files.Encoder, OnnxReference.Ids(texts[i]));
            OnnxReference.AssertClose(expected, InferenceEndpointTests.Floats(responses[i].GetProperty("embeddings")[0]));
        }

        var metrics = JsonSerializer.SerializeToElement(host.Services.GetRequiredService<InferenceMetrics>().Snapshot.ToJsonModel());
        Assert.True(metrics.GetProperty("maxBatchSize").GetInt32() > 1, $"no two requests shared a batch: {metrics}");
        var served = await host.Client.GetFromJsonAsync<JsonElement>("/api/inference/metrics");
        Assert.True(served.GetProperty("batches").GetInt64() >= 2);
    }

    [Fact]
    public async Task Micro_batcher_closes_batches_at_size_and_token_budget_and_refuses_when_full()
    {
        var sizes = new ConcurrentQueue<int>();
        var gate = new ManualResetEventSlim(false);
        var options = new MicroBatchingOptions { Adaptive = false, MaxBatchSize = 4, MaxBatchTokens = 40, MaxWait = TimeSpan.FromMilliseconds(200), QueueCapacity = 64 };
        await using (var batcher = new MicroBatcher<int, int>(items =>
        {
            gate.Wait();
            sizes.Enqueue(items.Count);
            return items.Select(x => x * 10).ToArray();
        }, x => x, options))
        {
            // Nine items of cost 5 (4 x 5 = 20 <= 40): batches of at most 4.
            var small = batcher.RunAsync(Enumerable.Repeat(5, 9).ToList(), CancellationToken.None);
            // Items of cost 15: 3 x 15 = 45 > 40, so at most 2 per batch.
            var large = batcher.RunAsync(Enumerable.Repeat(15, 4).ToList(), CancellationToken.None);
            gate.Set();
            Assert.Equal(Enumerable.Repeat(50, 9), await small);
            Assert.Equal(Enumerable.Repeat(150, 4), await large);
        }

        Assert.All(sizes, s => Assert.InRange(s, 1, 4));
        Assert.Equal(13, sizes.Sum());
        Assert.Contains(4, sizes);

        var blocked = new ManualResetEventSlim(false);
        await using var tiny = new MicroBatcher<int, int>(items =>
        {
            blocked.Wait();
            return items.ToArray();
        }, _ => 1, options with { QueueCapacity = 2, MaxBatchSize = 1, MaxWait = TimeSpan.Zero });
        var running = tiny.RunAsync([1], CancellationToken.None);
        await WaitUntilAsync(() => !running.IsCompleted);
        var error = Assert.Throws<InferenceException>(() =>
        {
            for (var i = 0; i < 10; i++)
            {
                _ = tiny.RunAsync([i], CancellationToken.None);
            }
        });
        Assert.Equal(InferenceErrorKind.Overloaded, error.Kind);
        blocked.Set();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Batcher_runs_at_most_ConcurrentBatches_passes_at_once(int concurrent)
    {
        var active = 0;
        var peak = 0;
        var bothIn = new CountdownEvent(2);
        var options = new MicroBatchingOptions { Adaptive = false, MaxBatchSize = 1, MaxWait = TimeSpan.Zero, ConcurrentBatches = concurrent };
        await using (var batcher = new MicroBatcher<int, int>(items =>
        {
            var now = Interlocked.Increment(ref active);
            InterlockedMax(ref peak, now);
            // With two slots both passes meet here; with one, the first waits out the timeout alone.
            if (!bothIn.IsSet)
            {
                bothIn.Signal();
            }

            bothIn.Wait(TimeSpan.FromMilliseconds(concurrent == 1 ? 300 : 10_000));
            Interlocked.Decrement(ref active);
            return items.Select(x => x + 1).ToArray();
        }, _ => 1, options))
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => batcher.RunAsync([i], CancellationToken.None)));
            Assert.Equal(Enumerable.Range(1, 6), results.Select(r => Assert.Single(r)));
        }

        Assert.Equal(concurrent, peak);
        Assert.Equal(0, active);
    }

    [Fact]
    public void Concurrent_batches_default_to_cores_over_intra_op_threads()
    {
        var cores = Environment.ProcessorCount;
        Assert.Equal(1, new InferenceOptions { IntraOpThreads = cores }.ResolvedConcurrentBatches);
        Assert.Equal(cores, new InferenceOptions { IntraOpThreads = 1 }.ResolvedConcurrentBatches);
        Assert.Equal(1, new InferenceOptions { IntraOpThreads = 0 }.ResolvedConcurrentBatches);
        Assert.Equal(3, new InferenceOptions { IntraOpThreads = 1, Batching = new MicroBatchingOptions { ConcurrentBatches = 3 } }.ResolvedConcurrentBatches);
        Assert.Throws<ArgumentException>(() => new InferenceOptions { Batching = new MicroBatchingOptions { ConcurrentBatches = -1 } }.Validate());
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    [Fact]
    public async Task Adaptive_batcher_runs_a_lone_caller_on_its_own_thread()
    {
        var executedOn = -1;
        await using var batcher = new MicroBatcher<int, int>(items =>
        {
            executedOn = Environment.CurrentManagedThreadId;
            return items.ToArray();
        }, _ => 1, new MicroBatchingOptions());
        var caller = Environment.CurrentManagedThreadId;
        var task = batcher.RunAsync([7], CancellationToken.None);

        Assert.True(task.IsCompletedSuccessfully);
        Assert.Equal(new[] { 7 }, await task);
        Assert.Equal(caller, executedOn);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(20);
        }
    }
}
