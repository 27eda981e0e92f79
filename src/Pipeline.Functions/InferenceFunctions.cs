using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Pipeline.Inference.Http;

namespace Pipeline.Functions;

/// <summary>
/// The inference HTTP triggers (ASP.NET Core integration, function-level keys): the same handlers and routes as the
/// local host's MapPipelineInference, under the Functions "api/" prefix.
/// </summary>
public sealed class InferenceFunctions(InferenceHttp http)
{
    [Function("InferenceEmbed")]
    public async Task<IActionResult> Embed(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "models/{name}/embed")] HttpRequest req, string name) =>
        new HttpResultAction(await http.EmbedAsync(req, name, req.HttpContext.RequestAborted));

    [Function("InferenceFillMask")]
    public async Task<IActionResult> FillMask(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "models/{name}/fill-mask")] HttpRequest req, string name) =>
        new HttpResultAction(await http.FillMaskAsync(req, name, req.HttpContext.RequestAborted));

    [Function("InferenceSimilarity")]
    public async Task<IActionResult> Similarity(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "models/{name}/similarity")] HttpRequest req, string name) =>
        new HttpResultAction(await http.SimilarityAsync(req, name, req.HttpContext.RequestAborted));

    [Function("InferenceClassify")]
    public async Task<IActionResult> Classify(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "models/{name}/classify")] HttpRequest req, string name) =>
        new HttpResultAction(await http.ClassifyAsync(req, name, req.HttpContext.RequestAborted));

    [Function("InferenceEmbedImage")]
    public async Task<IActionResult> EmbedImage(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "models/{name}/embed-image")] HttpRequest req, string name) =>
        new HttpResultAction(await http.EmbedImageAsync(req, name, req.HttpContext.RequestAborted));

    [Function("InferenceListModels")]
    public async Task<IActionResult> ListModels(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "models")] HttpRequest req) =>
        new HttpResultAction(await http.ListAsync(req, req.HttpContext.RequestAborted));

    [Function("InferenceDescribeModel")]
    public async Task<IActionResult> DescribeModel(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "models/{name}")] HttpRequest req, string name) =>
        new HttpResultAction(await http.DescribeAsync(req, name, req.HttpContext.RequestAborted));

    [Function("InferenceMetrics")]
    public IActionResult Metrics(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "inference/metrics")] HttpRequest req) =>
        new HttpResultAction(http.Metrics());

    /// <summary>Runs a minimal-API result inside the Functions ASP.NET Core pipeline.</summary>
    private sealed class HttpResultAction(IResult result) : IActionResult
    {
        public Task ExecuteResultAsync(ActionContext context) => result.ExecuteAsync(context.HttpContext);
    }
}
