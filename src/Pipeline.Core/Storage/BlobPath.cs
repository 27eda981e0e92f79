namespace Pipeline.Core.Storage;

/// <summary>
/// A blob addressed as "container/name" relative to the configured storage account. Durable payloads and job specs
/// carry these rather than absolute URIs so a history stays valid when the endpoint changes (Azurite ports, Azure).
/// </summary>
public readonly record struct BlobPath(string Container, string Name)
{
    public override string ToString() => $"{Container}/{Name}";

    public static BlobPath Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        var trimmed = value.TrimStart('/');
        var slash = trimmed.IndexOf('/');
        if (slash <= 0 || slash == trimmed.Length - 1)
        {
            throw new FormatException($"'{value}' is not a blob path; expected 'container/name'.");
        }

        return new BlobPath(trimmed[..slash], trimmed[(slash + 1)..]);
    }
}
