namespace Pipeline.Core.Storage;

/// <summary>The one place that names containers and blob paths (see the storage layout in the README).</summary>
public static class BlobLayout
{
    public const string Unlabeled = "unlabeled";
    public const string Labeled = "labeled";
    public const string Quarantine = "quarantine";
    public const string Datasets = "datasets";
    public const string Runs = "runs";
    public const string Models = "models";

    public static IReadOnlyList<string> AllContainers { get; } =
        [Unlabeled, Labeled, Quarantine, Datasets, Runs, Models];

    /// <summary>quarantine/{dataset}/{blob} keeps the rejected bytes; the reason sits beside it.</summary>
    public static BlobPath QuarantinedBlob(string dataset, string blobName) => new(Quarantine, $"{dataset}/{blobName}");

    public static BlobPath QuarantineReason(string dataset, string blobName) => new(Quarantine, $"{dataset}/{blobName}.reason.json");

    public static string DatasetVersionPrefix(string dataset, string version) => $"{dataset}/{version}/";

    public static BlobPath DatasetManifest(string dataset, string version) => new(Datasets, $"{dataset}/{version}/manifest.json");

    public static BlobPath DatasetVocab(string dataset, string version) => new(Datasets, $"{dataset}/{version}/vocab.txt");

    public static string RunJobPrefix(string runId, string jobId) => $"{runId}/{jobId}/";

    public static BlobPath JobSpec(string runId, string jobId) => new(Runs, $"{runId}/{jobId}/spec.json");

    public static BlobPath JobResult(string runId, string jobId) => new(Runs, $"{runId}/{jobId}/result.json");

    public static string JobCheckpointsPrefix(string runId, string jobId) => $"{runId}/{jobId}/checkpoints/";

    public static string ModelVersionPrefix(string name, string version) => $"{name}/{version}/";

    public static BlobPath ModelArtifact(string name, string version, string file) => new(Models, $"{name}/{version}/{file}");

    public static BlobPath LatestAlias(string name) => new(Models, $"{name}/latest.json");
}
