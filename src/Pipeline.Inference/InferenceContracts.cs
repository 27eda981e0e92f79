using System.Text.Json.Serialization;

namespace Pipeline.Inference;

/// <summary>POST /api/models/{name}/embed: texts to vectors.</summary>
public sealed record EmbedRequest
{
    public IReadOnlyList<string?>? Texts { get; init; }

    /// <summary>L2-normalise the vectors (default: as the model's config says).</summary>
    public bool? Normalize { get; init; }

    /// <summary>Cut sequences beyond the model's length (reported per text) instead of refusing them.</summary>
    public bool Truncate { get; init; } = true;
}

public sealed record EmbedResponse(string Model, string Version, int Dimensions, IReadOnlyList<float[]> Embeddings, IReadOnlyList<TokenUsage> Tokens)
{
    /// <summary>How over-long sequences are handled: "end" (tokens beyond the model's length are dropped).</summary>
    public string Truncation => "end";

    /// <summary>The weights that answered: fp32, or int8 when ?variant=int8 asked for it.</summary>
    public string Variant { get; init; } = "fp32";
}

/// <summary>Token count of one input and whether it was cut.</summary>
public sealed record TokenUsage(int Count, bool Truncated, int OriginalCount);

/// <summary>POST /api/models/{name}/fill-mask: text with [MASK] to the most likely tokens.</summary>
public sealed record FillMaskRequest
{
    public string? Text { get; init; }

    public int TopK { get; init; } = 5;
}

public sealed record FillMaskResponse(string Model, string Version, IReadOnlyList<MaskPredictions> Masks)
{
    /// <summary>The weights that answered: fp32, or int8 when ?variant=int8 asked for it.</summary>
    public string Variant { get; init; } = "fp32";
}

/// <summary>Candidates for one [MASK], best first; position counts tokens including [CLS].</summary>
public sealed record MaskPredictions(int Position, IReadOnlyList<TokenScore> Candidates);

public sealed record TokenScore(string Token, int Id, float Score);

/// <summary>POST /api/models/{name}/similarity: a query against candidates, ranked by cosine similarity.</summary>
public sealed record SimilarityRequest
{
    public string? Query { get; init; }

    public IReadOnlyList<string?>? Candidates { get; init; }

    public int? TopK { get; init; }
}

public sealed record SimilarityResponse(string Model, string Version, IReadOnlyList<RankedCandidate> Results)
{
    /// <summary>The weights that answered: fp32, or int8 when ?variant=int8 asked for it.</summary>
    public string Variant { get; init; } = "fp32";
}

public sealed record RankedCandidate(int Index, string Text, float Score);

/// <summary>POST /api/models/{name}/classify: texts (text models) or base64 images (image models) through the probe head.</summary>
public sealed record ClassifyRequest
{
    public IReadOnlyList<string?>? Texts { get; init; }

    public IReadOnlyList<string?>? Images { get; init; }
}

public sealed record ClassifyResponse(string Model, string Version, IReadOnlyList<Classification> Predictions)
{
    /// <summary>The weights that answered: fp32, or int8 when ?variant=int8 asked for it.</summary>
    public string Variant { get; init; } = "fp32";
}

public sealed record Classification(string Label, float Score, IReadOnlyDictionary<string, float> Scores);

/// <summary>POST /api/models/{name}/embed-image as JSON: base64 PNG/JPEG images.</summary>
public sealed record EmbedImageRequest
{
    public IReadOnlyList<string?>? Images { get; init; }

    public bool Normalize { get; init; }
}

public sealed record EmbedImageResponse(string Model, string Version, int Dimensions, IReadOnlyList<float[]> Embeddings)
{
    /// <summary>The weights that answered: fp32, or int8 when ?variant=int8 asked for it.</summary>
    public string Variant { get; init; } = "fp32";
}

/// <summary>GET /api/models/{name}: what is published and what latest points at.</summary>
public sealed record ModelDescription(
    string Name,
    string? Latest,
    DateTimeOffset? PublishedAt,
    IReadOnlyList<string> Versions,
    string? Version,
    [property: JsonPropertyName("card")] string? ModelCard,
    System.Text.Json.JsonElement? Metrics,
    bool HasClassifier);
