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
using Pipeline.Inference.Http;
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

    /// <summary>
    /// How long a dequeued control-queue message stays invisible before the backend hands it out again (Azure Storage
    /// default: 5 minutes). A stopping engine may dequeue messages it never processes; after a restart or a crash they
    /// are redelivered after this long. Orchestrator episodes here take milliseconds, so one minute is ample.
    /// </summary>
    public TimeSpan ControlQueueVisibilityTimeout { get; init; } = TimeSpan.FromMinutes(1);

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
    private readonly PlainHistoryOrchestrationService _engine;
    private bool _stopped;
    private UnlabeledWatcher? _watcher;

    private LocalPipelineHost(AzuriteProcess? azurite, WebApplication web, IHost worker, GrpcChannel channel, PlainHistoryOrchestrationService engine, Uri baseAddress, string connection)
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
            ControlQueueVisibilityTimeout = options.ControlQueueVisibilityTimeout,
            LoggerFactory = loggerFactory,
            // Unique per engine instance, not per process: a host restarted in the same process (tests, `pipeline up`
            // after a crash) must not share the stopped engine's partition-lease identity. With the same id the new
            // engine took the old one's leases as its own, the old one's shutdown then released them, and messages the
            // new engine had already dequeued stayed invisible until their 5-minute visibility timeout.
            WorkerId = $"local-{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}",
            CustomMessageTypeBinder = new ProtobufTagsTypeBinder(),
        });
        await engine.CreateIfNotExistsAsync().ConfigureAwait(false);

        var (grpcPort, freeHttpPort) = FreePorts();
        var httpPort = options.HttpPort == 0 ? freeHttpPort : options.HttpPort;
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
        // A failing background service is logged, never a reason to take the whole host down mid-run.
        builder.Services.Configure<HostOptions>(o => o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore);
        builder.Services.AddGrpc();
        var service = new PlainHistoryOrchestrationService(engine);
        builder.Services.AddSingleton<IOrchestrationService>(service);
        builder.Services.AddSingleton<IOrchestrationServiceClient>(engine);
        builder.Services.AddSingleton<TaskHubGrpcServer>();
        builder.Services.AddDurableTaskClient(b => b.UseGrpc(channel));
        builder.Services.AddSingleton(blobs);
        builder.Services.AddSingleton(launcherOptions);
        options.ConfigureServices?.Invoke(builder.Services);
        builder.Services.AddPipelineServices(options.Pipeline, storage);
        builder.Services.AddPipelineInference();
        var web = builder.Build();
        web.MapGrpcService<TaskHubGrpcServer>().RequireHost($"*:{grpcPort}");
        PipelineEndpoints.Map(web);
        web.MapPipelineInference();
        options.ConfigureApp?.Invoke(web);
        // Created before start so its ApplicationStarted hook (which starts the dispatchers) is always registered in time.
        web.Services.GetRequiredService<TaskHubGrpcServer>();
        await web.StartAsync(cancellationToken).ConfigureAwait(false);

        // The worker runs in its own host, started once the task-hub server listens; it shares the web app's services.
        var worker = Host.CreateDefaultBuilder()
            .ConfigureLogging(b => { b.ClearProviders(); Logging(b, options); })
            .ConfigureServices(services =>
            {
                services.Configure<HostOptions>(o => o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore);
                services.AddSingleton(blobs);
                services.AddSingleton(web.Services.GetRequiredService<IJobLauncher>());
                services.AddSingleton(web.Services.GetRequiredService<IUploadIngestion>());
                services.AddSingleton(web.Services.GetRequiredService<IModelEvaluator>());
                services.AddSingleton(web.Services.GetRequiredService<IModelPublisher>());

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

        // The watcher starts last, once the engine and the worker are up.
        var watcher = new UnlabeledWatcher(blobs, web.Services.GetRequiredService<PipelineApi>(), options.WatchInterval,
            web.Services.GetRequiredService<ILogger<UnlabeledWatcher>>());
        await watcher.StartAsync(cancellationToken).ConfigureAwait(false);

        return new LocalPipelineHost(azurite, web, worker, channel, service, new Uri($"http://127.0.0.1:{httpPort}/"), connection) { _watcher = watcher };
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
        if (_watcher is not null)
        {
            await _watcher.StopAsync(timeout.Token).ConfigureAwait(false);
            _watcher.Dispose();
        }

        // Work items in flight finish while the worker is still connected; none is left locked in its queue (where it
        // would stay invisible for ControlQueueVisibilityTimeout and stall a restarted host).
        if (!await _engine.DrainAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false))
        {
            _web.Services.GetRequiredService<ILogger<LocalPipelineHost>>().LogWarning(
                "Stopping with {InFlight} work item(s) still in flight; the backend redelivers them after its visibility timeout", _engine.InFlight);
        }

        await _worker.StopAsync(timeout.Token).ConfigureAwait(false);
        (Launcher as IDisposable)?.Dispose();
        await _web.StopAsync(timeout.Token).ConfigureAwait(false);
        try
        {
            // The task-hub server usually started the stop on shutdown without awaiting it; this awaits the same task (drain
            // and lease release), so nothing of this engine still runs when a new host starts on the same task hub.
            await _engine.StopAsync(isForced: true).WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NullReferenceException or ObjectDisposedException or InvalidOperationException or TimeoutException)
        {
        }
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

    /// <summary>Two distinct free loopback ports (both held open while choosing, so they cannot coincide).</summary>
    private static (int, int) FreePorts()
    {
        using var a = new TcpListener(IPAddress.Loopback, 0);
        using var b = new TcpListener(IPAddress.Loopback, 0);
        a.Start();
        b.Start();
        return (((IPEndPoint)a.LocalEndpoint).Port, ((IPEndPoint)b.LocalEndpoint).Port);
    }
}
