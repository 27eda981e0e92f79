using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Pipeline.Core.Storage;
using Pipeline.Inference.Registry;
using Pipeline.Inference.Sessions;
using Pipeline.Inference.Telemetry;
using Pipeline.Inference.Text;

namespace Pipeline.Inference.Http;

/// <summary>Registers the inference services and maps their endpoints for the local host.</summary>
public static class InferenceEndpoints
{
    /// <summary>
    /// The inference service, its model provider and HTTP handlers. Uses a registered <see cref="BlobServiceClient"/>
    /// when there is one, otherwise the storage named by PIPELINE_STORAGE_CONNECTION / PIPELINE_STORAGE_BLOB_URI.
    /// </summary>
    public static IServiceCollection AddPipelineInference(this IServiceCollection services, InferenceOptions? options = null)
    {
        services.TryAddSingleton((options ?? new InferenceOptions()).Validate());
        services.TryAddSingleton(_ => StorageOptions.FromEnvironment().CreateBlobServiceClient());
        services.TryAddSingleton<IModelSource>(sp => new BlobModelSource(sp.GetRequiredService<BlobServiceClient>()));
        services.TryAddSingleton<ITextTokenizerFactory, WordPieceTokenizerFactory>();
        services.TryAddSingleton(sp => new InferenceMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<ModelProvider>();
        services.TryAddSingleton<InferenceService>();
        services.TryAddSingleton<InferenceHttp>();
        return services;
    }

    /// <summary>
    /// POST /api/models/{name}/embed | fill-mask | similarity | classify | embed-image (?version= pins a version),
    /// GET /api/models, GET /api/models/{name}, GET /api/inference/metrics, GET /api/inference/health.
    /// </summary>
    public static IEndpointRouteBuilder MapPipelineInference(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/models/{name}/embed", (HttpRequest r, string name, InferenceHttp h, CancellationToken ct) => h.EmbedAsync(r, name, ct));
        api.MapPost("/models/{name}/fill-mask", (HttpRequest r, string name, InferenceHttp h, CancellationToken ct) => h.FillMaskAsync(r, name, ct));
        api.MapPost("/models/{name}/similarity", (HttpRequest r, string name, InferenceHttp h, CancellationToken ct) => h.SimilarityAsync(r, name, ct));
        api.MapPost("/models/{name}/classify", (HttpRequest r, string name, InferenceHttp h, CancellationToken ct) => h.ClassifyAsync(r, name, ct));
        api.MapPost("/models/{name}/embed-image", (HttpRequest r, string name, InferenceHttp h, CancellationToken ct) => h.EmbedImageAsync(r, name, ct));
        api.MapGet("/models", (HttpRequest r, InferenceHttp h, CancellationToken ct) => h.ListAsync(r, ct));
        api.MapGet("/models/{name}", (HttpRequest r, string name, InferenceHttp h, CancellationToken ct) => h.DescribeAsync(r, name, ct));
        api.MapGet("/inference/metrics", (InferenceHttp h) => h.Metrics());
        api.MapGet("/inference/health", () => Results.Ok(new { status = "ok" }));
        return app;
    }
}
