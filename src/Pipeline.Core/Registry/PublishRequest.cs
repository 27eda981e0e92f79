using System.Text.Json.Nodes;
using Pipeline.Core.Storage;

namespace Pipeline.Core.Registry;

/// <summary>
/// What to publish as the next version of a model. Artifacts are copied into models/{name}/{version}/ under their
/// file names; the registry writes metrics.json, model-card.md, publish.json and SHA256SUMS itself.
/// </summary>
public sealed record PublishRequest
{
    public required string Name { get; init; }

    /// <summary>File name in the version folder (encoder.onnx, mlm.onnx, config.json, vocab.txt, *.png, ...) to its source.</summary>
    public required IReadOnlyDictionary<string, ArtifactSource> Artifacts { get; init; }

    /// <summary>The export gate's result. Required unless the artifacts include parity.json; must have passed.</summary>
    public ParityReport? Parity { get; init; }

    /// <summary>Downstream evaluation (the evaluator's metrics). Without it the version is stored but latest.json stays.</summary>
    public JsonNode? Evaluation { get; init; }

    /// <summary>Training metrics (final loss, validation metric, steps, ...).</summary>
    public IReadOnlyDictionary<string, double> TrainingMetrics { get; init; } = new Dictionary<string, double>();

    /// <summary>Provenance and prose for model-card.md.</summary>
    public ModelCardInfo Card { get; init; } = new();

    /// <summary>
    /// Makes a retried publish (e.g. a Durable activity re-run) land in the same version instead of a new one:
    /// a version whose publish.json carries this key is completed or returned, never duplicated.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Move latest.json when the gate (parity passed + evaluation present) allows it.</summary>
    public bool Promote { get; init; } = true;
}

/// <summary>Where an artifact's bytes come from: a blob (container/name) or a local file.</summary>
public sealed record ArtifactSource
{
    private ArtifactSource(BlobPath? blob, string? localPath)
    {
        Blob = blob;
        LocalPath = localPath;
    }

    public BlobPath? Blob { get; }

    public string? LocalPath { get; }

    public static ArtifactSource FromBlob(BlobPath blob) => new(blob, null);

    /// <summary>A "container/name" blob path as carried in result.json.</summary>
    public static ArtifactSource FromBlob(string blobPath) => new(BlobPath.Parse(blobPath), null);

    public static ArtifactSource FromFile(string path) => new(null, Path.GetFullPath(path));

    public override string ToString() => Blob?.ToString() ?? LocalPath ?? "";
}

/// <summary>Provenance and prose for the model card.</summary>
public sealed record ModelCardInfo
{
    public string? Title { get; init; }

    public string? Description { get; init; }

    /// <summary>"mlm", "simclr", "rotation".</summary>
    public string? Objective { get; init; }

    /// <summary>"text" or "image".</summary>
    public string? Modality { get; init; }

    /// <summary>The dataset version's manifest.json blob path and the sha256 of its bytes.</summary>
    public string? DatasetManifest { get; init; }

    public string? DatasetManifestSha256 { get; init; }

    public string? RunId { get; init; }

    public string? JobId { get; init; }

    /// <summary>The training configuration (job spec's optimisation and objective settings).</summary>
    public JsonNode? TrainingConfig { get; init; }

    /// <summary>Data licences and other notices to carry with the model.</summary>
    public string? Notices { get; init; }
}

/// <summary>What <see cref="ModelRegistry.PublishAsync"/> did.</summary>
public sealed record PublishResult
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    /// <summary>File name to sha256, as in SHA256SUMS.</summary>
    public required IReadOnlyDictionary<string, string> Files { get; init; }

    public required bool Promoted { get; init; }

    /// <summary>Why latest.json was not moved (no evaluation, a newer version is already latest, ...).</summary>
    public string? NotPromotedReason { get; init; }

    /// <summary>True when an earlier attempt with the same idempotency key had already published this version.</summary>
    public bool AlreadyPublished { get; init; }
}

/// <summary>models/{name}/latest.json: which version the alias points at, and the sha256 of that version's encoder.onnx.</summary>
public sealed record LatestAlias
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public required DateTimeOffset PublishedAt { get; init; }

    public required string Sha256 { get; init; }
}

/// <summary>A complete version of a model (its SHA256SUMS exists).</summary>
public sealed record ModelVersionInfo
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public required DateTimeOffset PublishedAt { get; init; }

    public required IReadOnlyDictionary<string, string> Files { get; init; }
}

/// <summary>A resolved model version: the blob path of each file and its expected sha256.</summary>
public sealed record ResolvedModel
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    /// <summary>True when resolved through latest.json.</summary>
    public bool ViaLatest { get; init; }

    public required IReadOnlyDictionary<string, string> Sha256 { get; init; }

    public BlobPath File(string fileName) => Sha256.ContainsKey(fileName)
        ? BlobLayout.ModelArtifact(Name, Version, fileName)
        : throw new FileNotFoundException($"Model {Name} version {Version} has no file '{fileName}'. It has: {string.Join(", ", Sha256.Keys)}.");

    public bool Has(string fileName) => Sha256.ContainsKey(fileName);
}

/// <summary>Publishing was refused (gate failed, invalid request); nothing was written.</summary>
public sealed class PublishRefusedException(string message) : InvalidOperationException(message);

/// <summary>A stored file does not match its SHA256SUMS entry: the artifact is corrupted and is not loaded.</summary>
public sealed class ModelIntegrityException(string message) : IOException(message);

/// <summary>No such model, version or alias in the registry.</summary>
public sealed class ModelNotFoundException(string message) : FileNotFoundException(message);
