namespace Pipeline.Ingestion.Quarantine;

/// <summary>Why an upload was rejected. The code is stable (tests, dashboards); the message says what to do.</summary>
public sealed record QuarantineReason(string Code, string Message, IReadOnlyDictionary<string, string>? Details = null);

/// <summary>The stable reason codes.</summary>
public static class QuarantineCodes
{
    public const string Empty = "empty";
    public const string Binary = "binary";
    public const string TooLarge = "too-large";
    public const string UnsupportedExtension = "unsupported-extension";
    public const string CorruptGzip = "corrupt-gzip";
    public const string InvalidJsonLines = "invalid-json-lines";
    public const string DecodeFailed = "decode-failed";
    public const string ZeroSize = "zero-size";
    public const string DimensionsTooLarge = "dimensions-too-large";
    public const string DecompressionBomb = "decompression-bomb";
    public const string MagicMismatch = "magic-mismatch";
    public const string NoContent = "no-content";
}
