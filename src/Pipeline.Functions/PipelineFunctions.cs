using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Pipeline.Core;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;

namespace Pipeline.Functions;

/// <summary>The triggers that start and observe runs: each binds, validates and calls <see cref="PipelineApi"/>.</summary>
public sealed class PipelineFunctions(SealCoordinator seals, BlobServiceClient blobs)
{
    /// <summary>Event Grid delivers BlobCreated for unlabeled/; the webhook addresses Host.Functions.IngestUnlabeledBlob.</summary>
    [Function("IngestUnlabeledBlob")]
    public async Task IngestUnlabeledBlob(
        [BlobTrigger("unlabeled/{name}", Source = BlobTriggerSource.EventGrid, Connection = "PipelineStorage")] BlobClient blob,
        string name, [DurableClient] DurableTaskClient client, CancellationToken ct) =>
        await Api(client).IngestAsync(new BlobPath(BlobLayout.Unlabeled, name), null, ct);

    [Function("SealDatasetHttp")]
    public async Task<IActionResult> SealDataset(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "datasets/{dataset}/seal")] HttpRequest req,
        string dataset, [DurableClient] DurableTaskClient client, CancellationToken ct)
    {
        var body = req.ContentLength is > 0 ? await req.ReadFromJsonAsync<PretrainInput>(PipelineJson.Options, ct) : null;
        try
        {
            var id = await Api(client).SealAsync(dataset, body, ct);
            return new AcceptedResult($"/api/runs/{id}", await Api(client).StatusAsync(id, ct));
        }
        catch (ArgumentException e)
        {
            return new BadRequestObjectResult(new { error = e.Message });
        }
    }

    [Function("RunStatus")]
    public async Task<IActionResult> RunStatus(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "runs/{instanceId}")] HttpRequest req,
        string instanceId, [DurableClient] DurableTaskClient client, CancellationToken ct) =>
        await Api(client).StatusAsync(instanceId, ct) is { } status ? new OkObjectResult(status) : new NotFoundObjectResult(new { error = $"no run {instanceId}" });

    [Function("Health")]
    public static IActionResult Health([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest req) => new OkObjectResult("ok");

    private PipelineApi Api(DurableTaskClient client) => new(client, seals, blobs);
}
