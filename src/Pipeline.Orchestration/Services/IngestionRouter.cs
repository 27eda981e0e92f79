using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core.Storage;
using Pipeline.Ingestion;
using Pipeline.Ingestion.Images;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Services;

/// <summary>One kind of dataset's ingestion library (text or images), as the router sees it.</summary>
public interface IDatasetKindIngestion
{
    /// <summary>"text" or "image" (the manifest's kind).</summary>
    string Kind { get; }

    IReadOnlyList<string> Extensions { get; }

    Task<BlobIngestOutcome> AcceptBlobAsync(BlobPath upload, CancellationToken cancellationToken);

    Task<DatasetVersionResult> SealAsync(string dataset, string version, CancellationToken cancellationToken);
}

/// <summary>
/// Routes each upload by extension to the text or image library; anything else goes to the text library, which
/// quarantines what it cannot read. A dataset version is sealed by the kind most of its uploads have.
/// </summary>
public sealed class IngestionRouter(BlobServiceClient blobs, IEnumerable<IDatasetKindIngestion> kinds) : IUploadIngestion
{
    private readonly IReadOnlyList<IDatasetKindIngestion> _kinds = kinds.ToList();

    public async Task<IngestBlobResult> AcceptAsync(BlobPath upload, CancellationToken cancellationToken)
    {
        var (dataset, _) = Sealing.SealMarker.Split(upload.ToString());
        var kind = KindFor(upload.Name);
        var outcome = await kind.AcceptBlobAsync(upload, cancellationToken).ConfigureAwait(false);
        return new IngestBlobResult(upload.ToString(), dataset, outcome.Status, outcome.ContentHash, outcome.Reason, outcome.DuplicateOf);
    }

    public async Task<SealedDataset> SealAsync(string dataset, string version, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<IDatasetKindIngestion, int>();
        var container = blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        await foreach (var item in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, $"{dataset}/", cancellationToken).ConfigureAwait(false))
        {
            if (!Sealing.SealMarker.IsMarker($"{BlobLayout.Unlabeled}/{item.Name}"))
            {
                var kind = KindFor(item.Name);
                counts[kind] = counts.GetValueOrDefault(kind) + 1;
            }
        }

        var chosen = counts.Count == 0 ? _kinds[0] : counts.MaxBy(kv => kv.Value).Key;
        var result = await chosen.SealAsync(dataset, version, cancellationToken).ConfigureAwait(false);
        return new SealedDataset(dataset, version, chosen.Kind, result.Manifest.ToString(), result.Items, result.TrainItems, result.ValidationItems);
    }

    private IDatasetKindIngestion KindFor(string name)
    {
        var ext = Path.GetExtension(name).ToLowerInvariant();
        return _kinds.FirstOrDefault(k => k.Extensions.Contains(ext))
            ?? _kinds.FirstOrDefault(k => k.Kind == "text")
            ?? _kinds[0];
    }
}

/// <summary>The image library behind the router.</summary>
public sealed class ImageKindIngestion(ImageIngestion images) : IDatasetKindIngestion
{
    public string Kind => "image";

    public IReadOnlyList<string> Extensions => ImageValidationOptions.Extensions;

    public Task<BlobIngestOutcome> AcceptBlobAsync(BlobPath upload, CancellationToken cancellationToken) => images.AcceptBlobAsync(upload, cancellationToken);

    public Task<DatasetVersionResult> SealAsync(string dataset, string version, CancellationToken cancellationToken) =>
        images.SealAsync(dataset, version, null, cancellationToken);
}
