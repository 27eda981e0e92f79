using System.Text.Json;
using Pipeline.Core.Models;

namespace Pipeline.Inference.Text;

/// <summary>The parts of a text model's config.json the serving path needs: sequence length, pooling, normalisation.</summary>
public sealed record TextModelSettings
{
    public int MaxPositions { get; init; } = 128;

    public string Pooling { get; init; } = TextPooling.Mean;

    public bool NormalizeEmbedding { get; init; }

    public bool Nfkc { get; init; } = true;

    public bool Lowercase { get; init; } = true;

    public bool StripAccents { get; init; } = true;

    /// <summary>
    /// Reads config.json leniently: the fields may sit at the top level or inside a nested object (the exporter's
    /// encoder config, the dataset's normalisation options); absent fields keep their defaults.
    /// </summary>
    public static TextModelSettings Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return new TextModelSettings();
        }

        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var settings = new TextModelSettings();
        if (Find(root, "maxPositions") is { ValueKind: JsonValueKind.Number } max && max.TryGetInt32(out var m) && m > 2)
        {
            settings = settings with { MaxPositions = m };
        }

        if (Find(root, "pooling") is { ValueKind: JsonValueKind.String } pooling)
        {
            settings = settings with { Pooling = pooling.GetString()! };
        }

        if (Find(root, "normalizeEmbedding") is { } norm && norm.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            settings = settings with { NormalizeEmbedding = norm.GetBoolean() };
        }

        if (Find(root, "nfkc") is { } nfkc && nfkc.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            settings = settings with { Nfkc = nfkc.GetBoolean() };
        }

        if (Find(root, "lowercase") is { } lower && lower.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            settings = settings with { Lowercase = lower.GetBoolean() };
        }

        if (Find(root, "stripAccents") is { } strip && strip.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            settings = settings with { StripAccents = strip.GetBoolean() };
        }

        return settings;
    }

    /// <summary>Depth-first, case-insensitive search for a property name.</summary>
    private static JsonElement? Find(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var property in element.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value;
            }
        }

        foreach (var property in element.EnumerateObject())
        {
            if (Find(property.Value, name) is { } found)
            {
                return found;
            }
        }

        return null;
    }
}
