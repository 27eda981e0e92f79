using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Services;

namespace Pipeline.Orchestration.Hosting;

/// <summary>
/// The local stand-in for the Event Grid blob trigger: lists unlabeled/ and starts IngestBlob for every blob whose
/// (path, content) it has not started yet. Instance ids make a second sighting (or a restart) start nothing new.
/// </summary>
public sealed class UnlabeledWatcher(BlobServiceClient blobs, PipelineApi api, TimeSpan interval, ILogger<UnlabeledWatcher> logger) : BackgroundService
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var container = blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var item in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, null, stoppingToken).ConfigureAwait(false))
                {
                    var identity = PipelineApi.ContentIdentity(item.Properties.ContentHash, item.Properties.ETag?.ToString() ?? "");
                    if (!_seen.Add($"{item.Name}|{identity}"))
                    {
                        continue;
                    }

                    var started = await api.IngestAsync(new BlobPath(BlobLayout.Unlabeled, item.Name), identity, stoppingToken).ConfigureAwait(false);
                    if (started is not null)
                    {
                        logger.LogInformation("New upload {Blob}: started {InstanceId}", item.Name, started);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is Azure.RequestFailedException or Grpc.Core.RpcException or IOException or HttpRequestException)
            {
                logger.LogWarning(e, "Listing unlabeled/ failed; retrying");
            }

            try
            {
                await Task.Delay(interval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
