using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;

namespace Pipeline.Core.Storage;

/// <summary>How to reach the storage account: a connection string (Azurite, local) or an account URI with Entra ID.</summary>
public sealed record StorageOptions
{
    /// <summary>The environment variable a child process (trainer job) reads its connection string from.</summary>
    public const string ConnectionStringVariable = "PIPELINE_STORAGE_CONNECTION";

    /// <summary>The environment variable naming the blob service URI when identity-based access is used.</summary>
    public const string ServiceUriVariable = "PIPELINE_STORAGE_BLOB_URI";

    public string? ConnectionString { get; init; }

    public Uri? BlobServiceUri { get; init; }

    public BlobServiceClient CreateBlobServiceClient(TokenCredential? credential = null)
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 5;
        if (!string.IsNullOrWhiteSpace(ConnectionString))
        {
            return new BlobServiceClient(ConnectionString, options);
        }

        if (BlobServiceUri is not null)
        {
            return new BlobServiceClient(BlobServiceUri, credential ?? new DefaultAzureCredential(), options);
        }

        throw new InvalidOperationException(
            $"No storage configured: set {ConnectionStringVariable} (connection string) or {ServiceUriVariable} (blob service URI with a managed identity).");
    }

    public static StorageOptions FromEnvironment() => new()
    {
        ConnectionString = Environment.GetEnvironmentVariable(ConnectionStringVariable),
        BlobServiceUri = Environment.GetEnvironmentVariable(ServiceUriVariable) is { Length: > 0 } uri ? new Uri(uri) : null,
    };

    /// <summary>Never print the connection string; this is what logs may show instead.</summary>
    public override string ToString() =>
        BlobServiceUri is not null ? $"StorageOptions(BlobServiceUri={BlobServiceUri})" : "StorageOptions(ConnectionString=***)";
}
