using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Core.Datasets;

/// <summary>
/// manifest.json of a sealed dataset version (datasets/{dataset}/{version}/manifest.json): what the trainer reads.
/// Ingestion may add fields; the trainer relies on these.
/// </summary>
public sealed record DatasetManifest
{
    /// <summary>"text" or "image".</summary>
    public required string Kind { get; init; }

    public required string Dataset { get; init; }

    public required string Version { get; init; }

    public DateTimeOffset CreatedUtc { get; init; }

    /// <summary>Text: the vocab.txt blob path (container/name) and its sha256.</summary>
    public string? Vocab { get; init; }

    public string? VocabSha256 { get; init; }

    public int? VocabSize { get; init; }

    /// <summary>Image: channels, height, width of every image in the shards.</summary>
    public int? Channels { get; init; }

    public int? Height { get; init; }

    public int? Width { get; init; }

    public long Documents { get; init; }

    public long Tokens { get; init; }

    public required IReadOnlyList<ShardInfo> TrainShards { get; init; }

    public required IReadOnlyList<ShardInfo> ValidationShards { get; init; }

    /// <summary>Everything else ingestion records (sources, dedupe counts, quarantine counts, normalisation).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

/// <summary>One shard: blob path (container/name), sha256 of its bytes, and what it holds.</summary>
public sealed record ShardInfo(string Path, string Sha256, long Bytes, long Items, long Tokens);
