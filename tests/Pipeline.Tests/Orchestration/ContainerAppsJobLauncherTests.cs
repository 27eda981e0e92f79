using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Jobs;

namespace Pipeline.Tests.Orchestration;

/// <summary>The ARM launcher against a loopback fake ARM that records and checks every request.</summary>
public sealed class ContainerAppsJobLauncherTests : IDisposable
{
    private const string JobPath = "/subscriptions/sub-1/resourceGroups/rg-pipe/providers/Microsoft.App/jobs/trainer-job";
    private readonly FakeArm _arm = new();

    [Fact]
    public async Task Start_posts_a_full_container_override_with_the_spec_and_identity_and_polls_the_execution()
    {
        _arm.Respond = (method, path) => (method, path) switch
        {
            ("POST", JobPath + "/start") => (202, """{"id":"/subscriptions/sub-1/resourceGroups/rg-pipe/providers/Microsoft.App/jobs/trainer-job/executions/trainer-job-abc12","name":"trainer-job-abc12"}"""),
            ("GET", JobPath + "/executions/trainer-job-abc12") => (200, """{"name":"trainer-job-abc12","properties":{"status":"Running"}}"""),
            _ => (404, "{}"),
        };
        var launcher = Launcher();

        var handle = await launcher.LaunchAsync(new LaunchRequest("run-1", "mlm-base", "runs/run-1/mlm-base/spec.json", 2), CancellationToken.None);
        var state = await launcher.GetStateAsync(handle, CancellationToken.None);

        Assert.Equal("trainer-job-abc12", handle.Id);
        Assert.Equal(LaunchedJobStatus.Running, state.Status);
        var start = _arm.Requests.First();
        Assert.Equal("POST", start.Method);
        Assert.Equal(JobPath + "/start", start.Path);
        Assert.Equal("api-version=2025-01-01", start.Query.TrimStart('?'));
        Assert.Equal("Bearer fake-arm-token", start.Authorization);
        var container = Assert.Single(JsonNode.Parse(start.Body)!["containers"]!.AsArray())!;
        Assert.Equal("trainer", (string?)container["name"]);
        Assert.Equal("acr.example.io/pipeline-trainer:v7", (string?)container["image"]);
        Assert.Equal(["run", "--spec", "runs/run-1/mlm-base/spec.json"], container["args"]!.AsArray().Select(a => (string?)a));
        Assert.Equal(8.0, (double)container["resources"]!["cpu"]!);
        Assert.Equal("56Gi", (string?)container["resources"]!["memory"]);
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        Assert.Equal("https://acct.blob.core.windows.net/", env["PIPELINE_STORAGE_BLOB_URI"]);
        Assert.Equal("trainer-client-id", env["AZURE_CLIENT_ID"]);
        Assert.DoesNotContain(env.Keys, k => k.Contains("CONNECTION", StringComparison.OrdinalIgnoreCase));
        var poll = _arm.Requests.Last();
        Assert.Equal(("GET", JobPath + "/executions/trainer-job-abc12"), (poll.Method, poll.Path));
        Assert.Equal("Bearer fake-arm-token", poll.Authorization);
    }

    [Theory]
    [InlineData("Succeeded", LaunchedJobStatus.Succeeded)]
    [InlineData("Failed", LaunchedJobStatus.Failed)]
    [InlineData("Stopped", LaunchedJobStatus.Failed)]
    [InlineData("Processing", LaunchedJobStatus.Running)]
    [InlineData("Unknown", LaunchedJobStatus.Missing)]
    public async Task Execution_status_maps_to_the_job_state(string armStatus, LaunchedJobStatus expected)
    {
        _arm.Respond = (_, _) => (200, $$$"""{"name":"e1","properties":{"status":"{{{armStatus}}}"}}""");

        var state = await Launcher().GetStateAsync(new JobHandle("ContainerAppsJob", "e1", "r", "j", 1), CancellationToken.None);

        Assert.Equal(expected, state.Status);
    }

    [Fact]
    public async Task A_deleted_execution_is_missing_and_a_refused_start_throws_with_the_status()
    {
        _arm.Respond = (method, _) => method == "GET" ? (404, """{"error":{"code":"NotFound"}}""") : (403, """{"error":{"code":"AuthorizationFailed"}}""");
        var launcher = Launcher();

        var state = await launcher.GetStateAsync(new JobHandle("ContainerAppsJob", "gone", "r", "j", 1), CancellationToken.None);
        var e = await Assert.ThrowsAsync<Azure.RequestFailedException>(() => launcher.LaunchAsync(new LaunchRequest("r", "j", "runs/r/j/spec.json", 1), CancellationToken.None));

        Assert.Equal(LaunchedJobStatus.Missing, state.Status);
        Assert.Equal(403, e.Status);
        Assert.Contains("AuthorizationFailed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_posts_to_the_execution_stop_action()
    {
        _arm.Respond = (_, _) => (202, "{}");

        await Launcher().StopAsync(new JobHandle("ContainerAppsJob", "e9", "r", "j", 1), CancellationToken.None);

        var stop = Assert.Single(_arm.Requests);
        Assert.Equal(("POST", JobPath + "/executions/e9/stop"), (stop.Method, stop.Path));
    }

    [Fact]
    public void Missing_settings_are_named()
    {
        var e = Assert.Throws<ArgumentException>(() => new ContainerAppsJobLauncher(
            new ContainerAppsJobOptions { SubscriptionId = "s" }, NullLogger<ContainerAppsJobLauncher>.Instance, new StaticToken()));
        Assert.Contains("ResourceGroup, JobName, Image", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _arm.Dispose();

    private ContainerAppsJobLauncher Launcher() => new(
        new ContainerAppsJobOptions
        {
            ArmEndpoint = _arm.BaseAddress, SubscriptionId = "sub-1", ResourceGroup = "rg-pipe", JobName = "trainer-job",
            Image = "acr.example.io/pipeline-trainer:v7", ContainerName = "trainer", Cpu = 8, Memory = "56Gi",
            TrainerClientId = "trainer-client-id", StorageBlobUri = new Uri("https://acct.blob.core.windows.net/"),
        },
        NullLogger<ContainerAppsJobLauncher>.Instance, new StaticToken());

    private sealed class StaticToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new("fake-arm-token", DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    /// <summary>A loopback HTTP server standing in for ARM: records each request, answers from <see cref="Respond"/>.</summary>
    private sealed class FakeArm : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly CancellationTokenSource _stop = new();

        public FakeArm()
        {
            var port = FreePort();
            BaseAddress = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(BaseAddress.ToString());
            _listener.Start();
            _ = Task.Run(LoopAsync);
        }

        public Uri BaseAddress { get; }

        public ConcurrentQueue<Recorded> Requests { get; } = new();

        public Func<string, string, (int Status, string Body)> Respond { get; set; } = (_, _) => (404, "{}");

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Close();
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (HttpListenerException)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }

                using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                var url = ctx.Request.Url!;
                Requests.Enqueue(new Recorded(ctx.Request.HttpMethod, url.AbsolutePath, url.Query, ctx.Request.Headers["Authorization"], body));
                var (status, response) = Respond(ctx.Request.HttpMethod, url.AbsolutePath);
                ctx.Response.StatusCode = status;
                ctx.Response.ContentType = "application/json";
                var bytes = Encoding.UTF8.GetBytes(response);
                await ctx.Response.OutputStream.WriteAsync(bytes);
                ctx.Response.Close();
            }
        }

        private static int FreePort()
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            return ((IPEndPoint)l.LocalEndpoint).Port;
        }
    }

    private sealed record Recorded(string Method, string Path, string Query, string? Authorization, string Body);
}
