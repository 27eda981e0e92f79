using System.Security.Cryptography;
using System.Text;
using Pipeline.Core.Storage;

namespace Pipeline.Orchestration.Sealing;

/// <summary>
/// Sealing a dataset version by marker blob: uploading unlabeled/{dataset}/_SEALED (any content) seals everything
/// accepted so far and starts a Pretrain run. Each upload of the marker (a new ETag) seals a new version.
/// </summary>
public static class SealMarker
{
    public const string FileName = "_SEALED";

    public static BlobPath For(string dataset) => new(BlobLayout.Unlabeled, $"{dataset}/{FileName}");

    public static bool IsMarker(string upload) =>
        BlobPath.Parse(upload).Name.EndsWith("/" + FileName, StringComparison.Ordinal);

    /// <summary>Dataset = first path segment under unlabeled/; the rest is the name within it.</summary>
    public static (string Dataset, string Relative) Split(string upload)
    {
        var name = BlobPath.Parse(upload).Name;
        var slash = name.IndexOf('/');
        return slash <= 0 ? ("default", name) : (name[..slash], name[(slash + 1)..]);
    }
}

/// <summary>Input of RequestSeal: a marker upload (seal now) or an accepted upload (seal if the policy says so).</summary>
public sealed record SealTrigger(string Dataset, string? Marker);

/// <summary>Deterministic orchestration instance ids, so repeated events and requests start nothing new.</summary>
public static class IngestInstanceIds
{
    /// <summary>IngestBlob's id: the blob path plus its content identity (Content-MD5, or the ETag when the service gave none).</summary>
    public static string ForUpload(BlobPath upload, string contentIdentity) =>
        $"ingest-{Hash(upload.ToString())[..16]}-{Hash(contentIdentity)[..16]}";

    /// <summary>Pretrain's id for a dataset version.</summary>
    public static string ForPretrain(string dataset, string version) => $"pretrain-{dataset}-{version}";

    private static string Hash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));
}
