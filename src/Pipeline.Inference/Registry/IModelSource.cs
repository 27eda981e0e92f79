namespace Pipeline.Inference.Registry;

/// <summary>
/// Read access to the model registry layout (models/{name}/{version}/..., models/{name}/latest.json). A small seam so
/// the serving path needs only these reads, whoever writes the registry.
/// </summary>
public interface IModelSource
{
    /// <summary>Reads latest.json unless its ETag still equals <paramref name="knownETag"/>.</summary>
    Task<LatestLookup> GetLatestAsync(string name, string? knownETag, CancellationToken ct);

    /// <summary>Published versions, ascending.</summary>
    Task<IReadOnlyList<string>> ListVersionsAsync(string name, CancellationToken ct);

    /// <summary>Model names that have a latest.json.</summary>
    Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken ct);

    /// <summary>Downloads one artifact to a local file; false when the registry has no such file.</summary>
    Task<bool> TryDownloadAsync(string name, string version, string file, string localPath, CancellationToken ct);

    /// <summary>A small text artifact (model card, metrics, config), or null when absent.</summary>
    Task<string?> TryReadTextAsync(string name, string version, string file, CancellationToken ct);
}

/// <summary>The alias in models/{name}/latest.json.</summary>
public sealed record LatestAlias(string Name, string Version, DateTimeOffset? PublishedAt, string? Sha256, string ETag);

public enum LatestStatus
{
    Found,
    NotModified,
    Missing,
}

public sealed record LatestLookup(LatestStatus Status, LatestAlias? Alias)
{
    public static LatestLookup Missing { get; } = new(LatestStatus.Missing, null);

    public static LatestLookup NotModified { get; } = new(LatestStatus.NotModified, null);
}
