using System.Net;
using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Pipeline.Inference.Http;

/// <summary>
/// Only the inference endpoints (the same <see cref="InferenceEndpoints.MapPipelineInference"/> the local host maps)
/// on a Kestrel bound to 127.0.0.1: what `pipeline serve` runs and what bench/inference measures. HTTP/1.1 only, no
/// request logging on the hot path (warnings and errors only).
/// </summary>
public sealed class InferenceServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InferenceServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>http://127.0.0.1:{port}/</summary>
    public Uri Address { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="port">0 picks a free port.</param>
    public static async Task<InferenceServer> StartAsync(BlobServiceClient blobs, InferenceOptions options, int port = 0, Action<ILoggingBuilder>? logging = null, CancellationToken ct = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddSingleton(blobs);
        builder.Services.AddPipelineInference(options);
        var app = builder.Build();
        app.MapPipelineInference();
        await app.StartAsync(ct).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(bound.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        return new InferenceServer(app, uri);
    }

    /// <summary>Runs until <paramref name="ct"/> is cancelled (Ctrl+C in the CLI).</summary>
    public async Task WaitAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
