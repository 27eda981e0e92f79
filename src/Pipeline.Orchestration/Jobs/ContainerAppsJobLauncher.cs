using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Jobs;

/// <summary>
/// Where the trainer job lives and what each execution runs: configuration section Pipeline:ContainerAppsJob (the
/// Function App's settings Pipeline__ContainerAppsJob__*, written by infra/modules/functions.bicep).
/// </summary>
public sealed record ContainerAppsJobOptions
{
    public const string Section = "Pipeline:ContainerAppsJob";

    public Uri ArmEndpoint { get; init; } = new("https://management.azure.com/");

    public string SubscriptionId { get; init; } = "";

    public string ResourceGroup { get; init; } = "";

    public string JobName { get; init; } = "";

    /// <summary>The user-assigned identity that calls ARM (the Function App's); DefaultAzureCredential when empty.</summary>
    public string? ClientId { get; init; }

    /// <summary>The identity the trainer uses for storage (AZURE_CLIENT_ID inside the container).</summary>
    public string? TrainerClientId { get; init; }

    /// <summary>The start override replaces the whole container, so image, name and size are re-sent every time.</summary>
    public string Image { get; init; } = "";

    public string ContainerName { get; init; } = "trainer";

    public double Cpu { get; init; } = 8;

    public string Memory { get; init; } = "56Gi";

    /// <summary>The blob service the trainer reads and writes (PIPELINE_STORAGE_BLOB_URI inside the container).</summary>
    public Uri? StorageBlobUri { get; init; }

    public string ApiVersion { get; init; } = "2025-01-01";

    public void Validate()
    {
        var missing = new[] { (nameof(SubscriptionId), SubscriptionId), (nameof(ResourceGroup), ResourceGroup), (nameof(JobName), JobName), (nameof(Image), Image) }
            .Where(p => string.IsNullOrWhiteSpace(p.Item2)).Select(p => p.Item1).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException($"Pipeline:ContainerAppsJob is missing {string.Join(", ", missing)} (app settings Pipeline__ContainerAppsJob__<name>).");
        }
    }

    public string JobResourcePath =>
        $"/subscriptions/{SubscriptionId}/resourceGroups/{ResourceGroup}/providers/Microsoft.App/jobs/{JobName}";
}

/// <summary>
/// Runs training jobs as executions of a Container Apps manual-trigger job through ARM REST on Azure.Core's pipeline
/// (no Container Apps SDK is needed): POST .../jobs/{job}/start with a template override carrying this job's spec,
/// GET .../jobs/{job}/executions/{name} to poll, POST .../executions/{name}/stop on timeout.
/// </summary>
public sealed class ContainerAppsJobLauncher : IJobLauncher
{
    public const string LauncherName = "ContainerAppsJob";

    private readonly ContainerAppsJobOptions _options;
    private readonly HttpPipeline _pipeline;
    private readonly ILogger<ContainerAppsJobLauncher> _logger;

    public ContainerAppsJobLauncher(ContainerAppsJobOptions options, ILogger<ContainerAppsJobLauncher> logger, TokenCredential? credential = null)
    {
        options.Validate();
        _options = options;
        _logger = logger;
        credential ??= options.ClientId is { Length: > 0 } id
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(id))
            : new DefaultAzureCredential();
        var scope = new Uri(options.ArmEndpoint, "/.default").ToString();
        _pipeline = HttpPipelineBuilder.Build(new ArmClientOptions(), new ArmTokenPolicy(credential, scope));
    }

    public string Name => LauncherName;

    public async Task<JobHandle> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        var body = StartBody(request);
        using var message = _pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Post;
        message.Request.Uri.Reset(Url($"{_options.JobResourcePath}/start"));
        message.Request.Headers.Add("Content-Type", "application/json");
        message.Request.Content = RequestContent.Create(BinaryData.FromString(body.ToJsonString()));
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        var response = message.Response;
        if (response.Status is not (200 or 201 or 202))
        {
            throw new RequestFailedException(response.Status, $"Starting job {_options.JobName} failed ({response.Status}): {response.Content}");
        }

        var json = JsonNode.Parse(response.Content.ToString())
            ?? throw new InvalidOperationException($"ARM answered the start of {_options.JobName} with an empty body.");
        var name = json["name"]?.GetValue<string>()
            ?? json["id"]?.GetValue<string>()?.Split('/').Last()
            ?? throw new InvalidOperationException($"ARM's start response names no execution: {response.Content}");
        _logger.LogInformation("Started {Job} execution {Execution} for {RunId}/{JobId} attempt {Attempt}",
            _options.JobName, name, request.RunId, request.JobId, request.Attempt);
        return new JobHandle(LauncherName, name, request.RunId, request.JobId, request.Attempt);
    }

    public async Task<LaunchedJobState> GetStateAsync(JobHandle handle, CancellationToken cancellationToken)
    {
        using var message = _pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Get;
        message.Request.Uri.Reset(Url($"{_options.JobResourcePath}/executions/{handle.Id}"));
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        var response = message.Response;
        if (response.Status == (int)HttpStatusCode.NotFound)
        {
            return new LaunchedJobState(LaunchedJobStatus.Missing, $"execution {handle.Id} not found");
        }

        if (response.Status != 200)
        {
            throw new RequestFailedException(response.Status, $"Reading execution {handle.Id} failed ({response.Status}): {response.Content}");
        }

        var status = JsonNode.Parse(response.Content.ToString())?["properties"]?["status"]?.GetValue<string>() ?? "Unknown";
        return status switch
        {
            "Running" or "Processing" => new LaunchedJobState(LaunchedJobStatus.Running, status),
            "Succeeded" => new LaunchedJobState(LaunchedJobStatus.Succeeded, status, 0),
            "Failed" or "Stopped" or "Degraded" => new LaunchedJobState(LaunchedJobStatus.Failed, $"execution {handle.Id} {status}"),
            // Unknown: the platform lost track of it (node reclaimed); treat as lost so it is relaunched.
            _ => new LaunchedJobState(LaunchedJobStatus.Missing, $"execution {handle.Id} {status}"),
        };
    }

    public async Task StopAsync(JobHandle handle, CancellationToken cancellationToken)
    {
        using var message = _pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Post;
        message.Request.Uri.Reset(Url($"{_options.JobResourcePath}/executions/{handle.Id}/stop"));
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (message.Response.Status is not (200 or 202 or 204 or 404))
        {
            throw new RequestFailedException(message.Response.Status, $"Stopping execution {handle.Id} failed: {message.Response.Content}");
        }
    }

    /// <summary>The override replaces the job's container wholesale, so it restates image, size and every env var.</summary>
    internal JsonObject StartBody(LaunchRequest request)
    {
        var env = new JsonArray();
        if (_options.StorageBlobUri is { } blobUri)
        {
            env.Add(new JsonObject { ["name"] = "PIPELINE_STORAGE_BLOB_URI", ["value"] = blobUri.ToString() });
        }

        if (_options.TrainerClientId is { Length: > 0 } trainerId)
        {
            env.Add(new JsonObject { ["name"] = "AZURE_CLIENT_ID", ["value"] = trainerId });
        }

        env.Add(new JsonObject { ["name"] = "PIPELINE_JOB_ATTEMPT", ["value"] = request.Attempt.ToString(CultureInfo.InvariantCulture) });
        return new JsonObject
        {
            ["containers"] = new JsonArray
            {
                new JsonObject
                {
                    ["name"] = _options.ContainerName,
                    ["image"] = _options.Image,
                    ["args"] = new JsonArray("run", "--spec", request.Spec),
                    ["env"] = env,
                    ["resources"] = new JsonObject { ["cpu"] = _options.Cpu, ["memory"] = _options.Memory },
                },
            },
        };
    }

    private Uri Url(string path) =>
        new(_options.ArmEndpoint, $"{path}?api-version={Uri.EscapeDataString(_options.ApiVersion)}");

    private sealed class ArmClientOptions : ClientOptions
    {
        public ArmClientOptions()
        {
            Retry.MaxRetries = 3;
            Retry.Delay = TimeSpan.FromMilliseconds(200);
        }
    }
}

/// <summary>
/// Adds an Entra bearer token for ARM to every request. Unlike Azure.Core's BearerTokenAuthenticationPolicy it allows
/// plain http to a loopback address, so the launcher can be tested against a local fake ARM server; anything else
/// must be https.
/// </summary>
public sealed class ArmTokenPolicy(TokenCredential credential, string scope) : HttpPipelinePolicy
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private AccessToken _token;

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        ProcessAsync(message, pipeline, async: false).AsTask().GetAwaiter().GetResult();

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        ProcessAsync(message, pipeline, async: true);

    private async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline, bool async)
    {
        var uri = message.Request.Uri.ToUri();
        if (uri.Scheme != Uri.UriSchemeHttps && !uri.IsLoopback)
        {
            throw new InvalidOperationException($"Refusing to send an ARM token over plain http to {uri.Host}.");
        }

        var token = await GetTokenAsync(message.CancellationToken).ConfigureAwait(false);
        message.Request.Headers.SetValue("Authorization", "Bearer " + token);
        if (async)
        {
            await ProcessNextAsync(message, pipeline).ConfigureAwait(false);
        }
        else
        {
            ProcessNext(message, pipeline);
        }
    }

    private async Task<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_token.Token is null || _token.ExpiresOn <= DateTimeOffset.UtcNow.AddMinutes(5))
            {
                _token = await credential.GetTokenAsync(new TokenRequestContext([scope]), cancellationToken).ConfigureAwait(false);
            }

            return _token.Token!;
        }
        finally
        {
            _lock.Release();
        }
    }
}
