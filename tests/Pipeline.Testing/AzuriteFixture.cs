using Azure.Storage.Blobs;
using Pipeline.Core.Storage;
using Pipeline.Core.Storage.Emulator;
using Xunit;

namespace Pipeline.Testing;

/// <summary>
/// One Azurite per test collection: installed from the repository's pinned package.json when missing, started on free
/// loopback ports with its own data folder, stopped at the end. Tests get real blob storage, never a mock.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;

    public string ConnectionString => _azurite?.ConnectionString ?? throw new InvalidOperationException("Azurite is not started.");

    public AzuriteProcess Process => _azurite ?? throw new InvalidOperationException("Azurite is not started.");

    public StorageOptions StorageOptions => new() { ConnectionString = ConnectionString };

    public BlobServiceClient CreateBlobServiceClient() => StorageOptions.CreateBlobServiceClient();

    /// <summary>Creates every container of the storage layout (idempotent).</summary>
    public async Task<BlobServiceClient> CreateLayoutAsync()
    {
        var service = CreateBlobServiceClient();
        foreach (var container in BlobLayout.AllContainers)
        {
            await service.GetBlobContainerClient(container).CreateIfNotExistsAsync();
        }

        return service;
    }

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync(toolRoot: RepositoryPaths.Root);

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

/// <summary>
/// The collection name for tests sharing one Azurite. xunit discovers collection definitions only in the test assembly,
/// so each test project declares <c>[CollectionDefinition(AzuriteCollection.Name)] class ... : ICollectionFixture&lt;AzuriteFixture&gt;</c>.
/// </summary>
public static class AzuriteCollection
{
    public const string Name = "Azurite";
}
