using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Services;

namespace Pipeline.Orchestration.Hosting;

/// <summary>The local host's run endpoints; the same routes as the Functions app's HTTP triggers.</summary>
public static class PipelineEndpoints
{
    public const string SealRoute = "datasets/{dataset}/seal";
    public const string StatusRoute = "runs/{instanceId}";

    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/health", () => Results.Text("ok"));
        app.MapPost("/api/" + SealRoute, async (string dataset, HttpRequest request, PipelineApi api, CancellationToken ct) =>
        {
            PretrainInput? body = null;
            if (request.ContentLength is > 0)
            {
                body = await request.ReadFromJsonAsync<PretrainInput>(Core.PipelineJson.Options, ct);
            }

            try
            {
                var id = await api.SealAsync(dataset, body is null ? null : body with { Dataset = dataset }, ct);
                return Results.Accepted($"/api/runs/{id}", await api.StatusAsync(id, ct) ?? (object)new { id });
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = e.Message });
            }
        });
        app.MapGet("/api/" + StatusRoute, async (string instanceId, PipelineApi api, CancellationToken ct) =>
            await api.StatusAsync(instanceId, ct) is { } status ? Results.Ok(status) : Results.NotFound(new { error = $"no run {instanceId}" }));
        return app;
    }
}
