using System.Net;
using System.Net.Sockets;
using Azure.Storage.Blobs;
using DurableTask.AzureStorage;
using DurableTask.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.DurableTask.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Core.Storage.Emulator;
using Pipeline.Orchestration.Jobs;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;

namespace Pipeline.Orchestration.Hosting;

/// <summary>Settings of the local host (`pipeline up`, `pipeline demo`, the integration tests).</summary>
public sealed record LocalHostOptions
{
    /// <summary>Use this storage; when null the host starts Azurite with its data under <see cref="DataFolder"/>.</summary>
    public string? StorageConnection { get; init; }

    /// <summary>Azurite's data and the trainer logs; kept between runs so a restarted host continues.</summary>
    public string DataFolder { get; init; } = Path.Combine(Environment.CurrentDirectory, ".pipeline");

    /// <summary>HTTP port on 127.0.0.1 for the API and inference endpoints; 0 picks a free one.</summary>
    public int HttpPort { get; init; }

    public string TaskHub { get; init; } = "PipelineHub";

    /// <summary>Azure Storage partitions of the task hub (control queues); one is plenty locally.</summary>
    public int Partitions { get; init; } = 1;

    /// <summary>How often unlabeled/ is listed for new blobs (the local stand-in for the Event Grid blob trigger).</summary>
    public TimeSpan WatchInterval { get; init; } = TimeSpan.FromSeconds(2);

    public PipelineOptions Pipeline { get; init; } = new();

    public string? TrainerPath { get; init; }

    /// <summary>Extra environment for trainer processes (thread counts on small machines).</summary>
    public IReadOnlyDictionary<string, string> TrainerEnvironment { get; init; } = new Dictionary<string, string>();

    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>Adds services to the web app (the inference service, substitutes in tests).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>Maps more endpoints (the inference endpoints).</summary>
    public Action<WebApplication>? ConfigureApp { get; init; }
}

/// <summary>
/// The whole pipeline on one machine, no Functions host: storage (Azurite or a connection string), the Durable Task
/// engine on the Azure Storage backend (the one Durable Functions uses) behind the gRPC task-hub server, a worker
/// running the same orchestrators and activities as the Functions app, a watcher on unlabeled/ standing in for the
/// blob trigger, and the HTTP API (start/seal/status + inference) on 127.0.0.1.
/// </summary>
public sealed class LocalPipelineHost : IAsyncDisposable
{
    private readonly AzuriteProcess? _azurite;
    private readonly WebApplication _web;
    private readonly IHost _worker;
    private readonly GrpcChannel _channel;
    private readonly AzureStorageOrchestrationService _engine;
    private bool _stopped;

    private LocalPipelineHost(AzuriteProcess? azurite, WebApplication web, IHost worker, GrpcChannel channel, AzureStorageOrchestrationService engine, Uri baseAddress, string connection)
    {
        _azurite = azurite;
        _web = web;
        _worker = worker;
        _channel = channel;
        _engine = engine;
        BaseAddress = baseAddress;
        StorageConnection = connection;
    }

    public Uri BaseAddress { get; }

    /// <summary>The storage connection string (for child processes and tests; never log it).</summary>
    public string StorageConnection { get; }

    public IServiceProvider Services => _web.Services;

    public DurableTaskClient Client => _web.Services.GetRequiredService<DurableTaskClient>();

    public PipelineApi Api => _web.Services.GetRequiredService<PipelineApi>();

    public BlobServiceClient Blobs => _web.Services.GetRequiredService<BlobServiceClient>();

    public IJobLauncher Launcher => _web.Services.GetRequiredService<IJobLauncher>();

    public static async Task<LocalPipelineHost> StartAsync(LocalHostOptions options, CancellationToken cancellationToken = default)
    {
        AzuriteProcess? azurite = null;
        var connection = options.StorageConnection;
        if (string.IsNullOrWhiteSpace(connection))
        {
            azurite = await AzuriteProcess.StartAsync(Path.Combine(options.DataFolder, "azurite"), cancellationToken: cancellationToken).ConfigureAwait(false);
            connection = azurite.ConnectionString;
        }

        var storage = new StorageOptions { ConnectionString = connection };
        var blobs = storage.CreateBlobServiceClient();
        foreach (var container in BlobLayout.AllContainers)
        {
            await blobs.GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var loggerFactory = LoggerFactory.Create(b => Logging(b, options));
        var engine = new AzureStorageOrchestrationService(new AzureStorageOrchestrationServiceSettings
        {
            TaskHubName = options.TaskHub,
            StorageAccountClientProvider = new StorageAccountClientProvider(connection),
            PartitionCount = options.Partitions,
            MaxQueuePollingInterval = TimeSpan.FromSeconds(1),
            LoggerFactory = loggerFactory,
            WorkerId = $"local-{Environment.MachineName}-{Environment.ProcessId}",
        });
        await engine.CreateIfNotExistsAsync().ConfigureAwait(false);

        var grpcPort = FreePort();
        var httpPort = options.HttpPort == 0 ? FreePort() : options.HttpPort;
        var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var launcherOptions = new LocalProcessLauncherOptions
        {
            Storage = storage,
            TrainerPath = options.TrainerPath,
            LogFolder = Path.Combine(options.DataFolder, "jobs"),
            Environment = options.TrainerEnvironment,
        };

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        Logging(builder.Logging, options);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, grpcPort, l => l.Protocols = HttpProtocols.Http2);
            k.Listen(IPAddress.Loopback, httpPort, l => l.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<IOrchestrationService>(engine);
        builder.Services.AddSingleton<IOrchestrationServiceClient>(engine);
        builder.Services.AddSingleton<TaskHubGrpcServer>();
        builder.Services.AddDurableTaskClient(b => b.UseGrpc(channel));
        builder.Services.AddSingleton(blobs);
        builder.Services.AddSingleton(launcherOptions);
        options.ConfigureServices?.Invoke(builder.Services);
        builder.Services.AddPipelineServices(options.Pipeline, storage);
        builder.Services.AddHostedService(sp => new UnlabeledWatcher(
            sp.GetRequiredService<BlobServiceClient>(), sp.GetRequiredService<PipelineApi>(), options.WatchInterval,
            sp.GetRequiredService<ILogger<UnlabeledWatcher>>()));
        var web = builder.Build();
        web.MapGrpcService<TaskHubGrpcServer>().RequireHost($"*:{grpcPort}");
        PipelineEndpoints.Map(web);
        options.ConfigureApp?.Invoke(web);
        await web.StartAsync(cancellationToken).ConfigureAwait(false);

        // The worker runs in its own host, started once the task-hub server listens; it shares the web app's services.
        var worker = Host.CreateDefaultBuilder()
            .ConfigureLogging(b => { b.ClearProviders(); Logging(b, options); })
            .ConfigureServices(services =>
            {
                services.AddSingleton(blobs);
                services.AddSingleton(web.Services.GetRequiredService<IJobLauncher>());
                services.AddSingleton(web.Services.GetRequiredService<IUploadIngestion>());
                services.AddSingleton(web.Services.GetRequiredService<IModelEvaluator>());
                if (web.Services.GetService<IModelPublisher>() is { } publisher)
                {
                    services.AddSingleton(publisher);
                }

                services.AddSingleton(web.Services.GetRequiredService<SealCoordinator>());
                services.AddPipelineServices(options.Pipeline, storage);
                services.AddDurableTaskWorker(b =>
                {
                    b.UseGrpc(channel);
                    b.AddTasks(PipelineRegistration.AddTasks);
                });
            })
            .Build();
        await worker.StartAsync(cancellationToken).ConfigureAwait(false);

        return new LocalPipelineHost(azurite, web, worker, channel, engine, new Uri($"http://127.0.0.1:{httpPort}/"), connection);
    }

    /// <summary>Stops watcher, worker, engine and HTTP; kills trainer children (their jobs resume after a restart); stops Azurite if it started it.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _worker.StopAsync(timeout.Token).ConfigureAwait(false);
        (Launcher as IDisposable)?.Dispose();
        await _web.StopAsync(timeout.Token).ConfigureAwait(false);
        await _engine.StopAsync(isForced: true).ConfigureAwait(false);
        _worker.Dispose();
        await _web.DisposeAsync().ConfigureAwait(false);
        _channel.Dispose();
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private static void Logging(ILoggingBuilder b, LocalHostOptions options)
    {
        b.SetMinimumLevel(options.LogLevel);
        b.AddFilter("DurableTask", LogLevel.Warning);
        b.AddFilter("Microsoft.DurableTask", LogLevel.Warning);
        b.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        b.AddFilter("Grpc", LogLevel.Warning);
        if (options.ConfigureLogging is { } configure)
        {
            configure(b);
        }
        else
        {
            b.AddSimpleConsole(o => o.SingleLine = true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
