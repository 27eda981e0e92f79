using Pipeline.Core.Storage;

namespace Pipeline.Ingestion;

/// <summary>What happened to one upload: accepted (new content), duplicate (same bytes seen before) or quarantined.</summary>
public sealed record BlobIngestOutcome(string Status, string ContentHash, string? Reason = null, string? DuplicateOf = null)
{
    public static class Statuses
    {
        public const string Accepted = "accepted";
        public const string Duplicate = "duplicate";
        public const string Quarantined = "quarantined";
    }
}

/// <summary>A sealed dataset version: its manifest.json and what went into it.</summary>
public sealed record DatasetVersionResult(BlobPath Manifest, long Items, long TrainItems, long ValidationItems, long Skipped);
