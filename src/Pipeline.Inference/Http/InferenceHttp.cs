using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Pipeline.Inference.Telemetry;

namespace Pipeline.Inference.Http;

/// <summary>
/// The HTTP handlers shared by the local host's minimal API and the Functions HTTP triggers: read and bound the body,
/// call <see cref="InferenceService"/>, map refusals to RFC 7807 problem details (400/404/413/415/429/503). Nothing
/// a client sends should produce a 5xx; a 500 here means a bug, and is logged as one.
/// </summary>
public sealed class InferenceHttp(InferenceService service, InferenceMetrics metrics, ILogger<InferenceHttp> logger)
{
    private static readonly JsonSerializerOptions RequestJson = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        MaxDepth = 16,
    };

    private static readonly JsonSerializerOptions ResponseJson = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = JsonTypeInfoResolver.Combine(InferenceJsonContext.Default, new DefaultJsonTypeInfoResolver()),
    };

    public Task<IResult> EmbedAsync(HttpRequest request, string name, CancellationToken ct) =>
        HandleAsync("embed", request, async () =>
        {
            var body = await ReadJsonAsync<EmbedRequest>(request, ct).ConfigureAwait(false);
            return await service.EmbedAsync(name, Version(request), body, ct, Variant(request)).ConfigureAwait(false);
        });

    public Task<IResult> FillMaskAsync(HttpRequest request, string name, CancellationToken ct) =>
        HandleAsync("fill-mask", request, async () =>
        {
            var body = await ReadJsonAsync<FillMaskRequest>(request, ct).ConfigureAwait(false);
            return await service.FillMaskAsync(name, Version(request), body, ct, Variant(request)).ConfigureAwait(false);
        });

    public Task<IResult> SimilarityAsync(HttpRequest request, string name, CancellationToken ct) =>
        HandleAsync("similarity", request, async () =>
        {
            var body = await ReadJsonAsync<SimilarityRequest>(request, ct).ConfigureAwait(false);
            return await service.SimilarityAsync(name, Version(request), body, ct, Variant(request)).ConfigureAwait(false);
        });

    public Task<IResult> ClassifyAsync(HttpRequest request, string name, CancellationToken ct) =>
        HandleAsync("classify", request, async () =>
        {
            var body = await ReadJsonAsync<ClassifyRequest>(request, ct).ConfigureAwait(false);
            return await service.ClassifyAsync(name, Version(request), body, ct, Variant(request)).ConfigureAwait(false);
        });

    /// <summary>A PNG/JPEG body (image/png, image/jpeg; ?normalize=true) or JSON {"images": [base64...]}.</summary>
    public Task<IResult> EmbedImageAsync(HttpRequest request, string name, CancellationToken ct) =>
        HandleAsync("embed-image", request, async () =>
        {
            var mediaType = MediaType(request);
            if (mediaType is "image/png" or "image/jpeg" or "image/jpg")
            {
                var bytes = await ReadBodyAsync(request, service.Options.Limits.MaxImageBytes, ct).ConfigureAwait(false);
                var normalize = request.Query["normalize"].ToString() is "true" or "1";
                return await service.EmbedImagesAsync(name, Version(request), [bytes], normalize, ct, Variant(request)).ConfigureAwait(false);
            }

            var body = await ReadJsonAsync<EmbedImageRequest>(request, ct).ConfigureAwait(false);
            return await service.EmbedImagesAsync(name, Version(request), body, ct, Variant(request)).ConfigureAwait(false);
        });

    public Task<IResult> DescribeAsync(HttpRequest request, string name, CancellationToken ct) =>
        HandleAsync("describe", request, async () => await service.DescribeAsync(name, Version(request), ct).ConfigureAwait(false));

    public Task<IResult> ListAsync(HttpRequest request, CancellationToken ct) =>
        HandleAsync("list", request, async () => new { models = await service.ListModelsAsync(ct).ConfigureAwait(false) });

    public IResult Metrics() => Results.Json(metrics.Snapshot.ToJsonModel(), ResponseJson);

    private async Task<IResult> HandleAsync(string endpoint, HttpRequest request, Func<Task<object>> handler)
    {
        var started = Stopwatch.GetTimestamp();
        IResult result;
        int status;
        try
        {
            var value = await handler().ConfigureAwait(false);
            status = StatusCodes.Status200OK;
            result = Results.Json(value, ResponseJson);
        }
        catch (InferenceException e)
        {
            status = e.Kind switch
            {
                InferenceErrorKind.NotFound => StatusCodes.Status404NotFound,
                InferenceErrorKind.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
                InferenceErrorKind.UnsupportedMediaType => StatusCodes.Status415UnsupportedMediaType,
                InferenceErrorKind.Overloaded => StatusCodes.Status429TooManyRequests,
                InferenceErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status400BadRequest,
            };
            result = Problem(status, e.Message);
        }
        catch (OperationCanceledException) when (request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody reads this.
            status = 499;
            result = Results.StatusCode(499);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Inference {Endpoint} failed unexpectedly", endpoint);
            status = StatusCodes.Status500InternalServerError;
            result = Problem(status, "The inference service failed on this request; the error is logged.");
        }

        metrics.RecordRequest(endpoint, status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    private static IResult Problem(int status, string detail) => Results.Problem(
        detail: detail,
        statusCode: status,
        title: status switch
        {
            400 => "Invalid request",
            404 => "Not found",
            413 => "Payload too large",
            415 => "Unsupported media type",
            429 => "Too many requests",
            503 => "Unavailable",
            _ => "Server error",
        });

    private static string? Version(HttpRequest request)
    {
        var values = request.Query["version"];
        return values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => throw InferenceException.BadRequest("Give ?version= at most once."),
        };
    }

    /// <summary>?variant=int8 serves the quantised weights (when they were published); fp32 otherwise.</summary>
    private static string? Variant(HttpRequest request)
    {
        var values = request.Query["variant"];
        return values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => throw InferenceException.BadRequest("Give ?variant= at most once."),
        };
    }

    private static string MediaType(HttpRequest request)
    {
        var contentType = request.ContentType ?? "";
        var semicolon = contentType.IndexOf(';');
        return (semicolon >= 0 ? contentType[..semicolon] : contentType).Trim().ToLowerInvariant();
    }

    private async Task<T> ReadJsonAsync<T>(HttpRequest request, CancellationToken ct)
        where T : class
    {
        var mediaType = MediaType(request);
        if (mediaType.Length > 0 && mediaType != "application/json" && !mediaType.EndsWith("+json", StringComparison.Ordinal))
        {
            throw new InferenceException(InferenceErrorKind.UnsupportedMediaType, $"Content-Type '{mediaType}' is not accepted here; send application/json.");
        }

        var limit = service.Options.Limits.MaxJsonBytes;
        if (request.ContentLength > limit)
        {
            throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The body is {request.ContentLength} bytes; the limit is {limit}.");
        }

        // A pooled buffer sized from Content-Length: no per-request copy buffers on the hot path.
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(request.ContentLength ?? 4096, 256, limit) + 1);
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The body is over the limit of {limit} bytes.");
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, limit + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > limit)
                {
                    throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The body is over the limit of {limit} bytes.");
                }
            }

            if (length == 0)
            {
                throw InferenceException.BadRequest("The request body is empty; send a JSON object.");
            }

            return Deserialize<T>(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static T Deserialize<T>(ReadOnlySpan<byte> bytes)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, RequestJson)
                ?? throw InferenceException.BadRequest("The request body is JSON null; send a JSON object.");
        }
        catch (JsonException e)
        {
            throw InferenceException.BadRequest($"The request body is not valid JSON for this endpoint: {e.Message}");
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw InferenceException.BadRequest($"The request body could not be read as this endpoint's JSON: {e.Message}");
        }
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes; more is a 413, whatever Content-Length claimed.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, int limit, CancellationToken ct)
    {
        if (request.ContentLength > limit)
        {
            throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The body is {request.ContentLength} bytes; the limit is {limit}.");
        }

        var buffer = new MemoryStream(capacity: (int)Math.Min(request.ContentLength ?? 4096, limit));
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"The body is over the limit of {limit} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}

/// <summary>
/// Source-generated JSON metadata for the responses (no reflection when writing). Requests stay on the reflection
/// resolver: generated code for init-only properties sets every one, so a field the client left out would lose its
/// default (topK = 5, truncate = true) instead of keeping it.
/// </summary>
[JsonSerializable(typeof(EmbedResponse))]
[JsonSerializable(typeof(FillMaskResponse))]
[JsonSerializable(typeof(SimilarityResponse))]
[JsonSerializable(typeof(ClassifyResponse))]
[JsonSerializable(typeof(EmbedImageResponse))]
internal sealed partial class InferenceJsonContext : JsonSerializerContext;
