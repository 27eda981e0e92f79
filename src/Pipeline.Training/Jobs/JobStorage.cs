using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core.Storage;

namespace Pipeline.Training.Jobs;

/// <summary>
/// The few blob operations a training job needs, addressed by <see cref="BlobPath"/>. <see cref="BlobJobStorage"/> is
/// the real account (Azure or Azurite); <see cref="LocalJobStorage"/> maps container/name onto a folder for runs
/// without any storage service (a file spec on a laptop).
/// </summary>
public interface IJobStorage
{
    Task DownloadAsync(BlobPath source, string localFile, CancellationToken ct);

    Task UploadAsync(string localFile, BlobPath target, CancellationToken ct);

    Task<bool> ExistsAsync(BlobPath path, CancellationToken ct);

    /// <summary>Blob names (without the container) under a prefix.</summary>
    Task<IReadOnlyList<string>> ListAsync(string container, string prefix, CancellationToken ct);

    Task DeleteAsync(BlobPath path, CancellationToken ct);
}

/// <summary>Blob storage through Azure.Storage.Blobs (Azure or Azurite).</summary>
public sealed class BlobJobStorage(BlobServiceClient service) : IJobStorage
{
    public async Task DownloadAsync(BlobPath source, string localFile, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(localFile))!);
        try
        {
            await Blob(source).DownloadToAsync(localFile, ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new FileNotFoundException($"Blob {source} does not exist.", source.ToString(), e);
        }
    }

    public async Task UploadAsync(string localFile, BlobPath target, CancellationToken ct)
    {
        var container = service.GetBlobContainerClient(target.Container);
        await container.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        await container.GetBlobClient(target.Name).UploadAsync(localFile, overwrite: true, ct).ConfigureAwait(false);
    }

    public async Task<bool> ExistsAsync(BlobPath path, CancellationToken ct) =>
        (await Blob(path).ExistsAsync(ct).ConfigureAwait(false)).Value;

    public async Task<IReadOnlyList<string>> ListAsync(string container, string prefix, CancellationToken ct)
    {
        var client = service.GetBlobContainerClient(container);
        var names = new List<string>();
        if (!(await client.ExistsAsync(ct).ConfigureAwait(false)).Value)
        {
            return names;
        }

        await foreach (var item in client.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, ct).ConfigureAwait(false))
        {
            names.Add(item.Name);
        }

        return names;
    }

    public async Task DeleteAsync(BlobPath path, CancellationToken ct) =>
        await Blob(path).DeleteIfExistsAsync(cancellationToken: ct).ConfigureAwait(false);

    private BlobClient Blob(BlobPath path) => service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name);
}

/// <summary>Blob paths as files: {root}/{container}/{name}. Writes go through a temporary file and a rename.</summary>
public sealed class LocalJobStorage(string root) : IJobStorage
{
    public string Root { get; } = Path.GetFullPath(root);

    public string FileOf(BlobPath path) => Path.Combine(Root, path.Container, path.Name.Replace('/', Path.DirectorySeparatorChar));

    public Task DownloadAsync(BlobPath source, string localFile, CancellationToken ct)
    {
        var from = FileOf(source);
        if (!File.Exists(from))
        {
            throw new FileNotFoundException($"Blob {source} does not exist (looked for {from}).", from);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(localFile))!);
        File.Copy(from, localFile, overwrite: true);
        return Task.CompletedTask;
    }

    public Task UploadAsync(string localFile, BlobPath target, CancellationToken ct)
    {
        var to = FileOf(target);
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        var temp = to + ".tmp-" + Guid.NewGuid().ToString("N");
        File.Copy(localFile, temp);
        File.Move(temp, to, overwrite: true);
        return Task.CompletedTask;
    }

    public Task<bool> ExistsAsync(BlobPath path, CancellationToken ct) => Task.FromResult(File.Exists(FileOf(path)));

    public Task<IReadOnlyList<string>> ListAsync(string container, string prefix, CancellationToken ct)
    {
        var dir = Path.Combine(Root, container);
        IReadOnlyList<string> names = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && !n.Contains(".tmp-", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .ToArray()
            : [];
        return Task.FromResult(names);
    }

    public Task DeleteAsync(BlobPath path, CancellationToken ct)
    {
        File.Delete(FileOf(path));
        return Task.CompletedTask;
    }
}
