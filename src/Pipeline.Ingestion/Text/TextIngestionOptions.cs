using Pipeline.Core.Text;

namespace Pipeline.Ingestion.Text;

/// <summary>Limits and rules applied to each text upload (AcceptBlobAsync).</summary>
public sealed record TextIngestionOptions
{
    /// <summary>Uploads larger than this (stored bytes) are quarantined as too large without being read.</summary>
    public long MaxBlobBytes { get; init; } = 4L * 1024 * 1024 * 1024;

    /// <summary>More bad .jsonl lines than this fraction of the non-blank lines quarantines the upload.</summary>
    public double MaxBadJsonLineFraction { get; init; } = 0.01;

    public TextReadOptions Read { get; init; } = new();

    public void Validate()
    {
        if (MaxBlobBytes <= 0 || Read.MaxInvalidUtf8Fraction is < 0 or > 1 || MaxBadJsonLineFraction is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBlobBytes), "MaxBlobBytes must be > 0 and the fractions within [0, 1].");
        }

        if (string.IsNullOrWhiteSpace(Read.JsonTextField) || Read.MaxDocumentChars < 16)
        {
            throw new ArgumentException("Read.JsonTextField must be set and Read.MaxDocumentChars >= 16.");
        }
    }
}

/// <summary>How a dataset version is sealed (SealAsync).</summary>
public sealed record TextSealOptions
{
    public TextNormalization Normalization { get; init; } = TextNormalization.Default;

    public WordPieceTrainerOptions Vocabulary { get; init; } = new() { VocabSize = 8_000 };

    /// <summary>
    /// Distinct words held while counting for the vocabulary; beyond it rare words are pruned by doubling frequency
    /// floors (<see cref="WordPieceTrainer.MaxCountedWords"/>), so memory stays bounded on any corpus.
    /// </summary>
    public int MaxCountedWords { get; init; } = WordPieceTrainer.DefaultMaxCountedWords;

    /// <summary>Reuse this vocab.txt (container/name) instead of training one, e.g. to keep ids stable across versions.</summary>
    public string? VocabFrom { get; init; }

    /// <summary>Documents whose content hash falls below this fraction go to validation (deterministic by content).</summary>
    public double ValidationFraction { get; init; } = 0.05;

    /// <summary>A shard is closed once it holds this many tokens (whole documents only).</summary>
    public int TokensPerShard { get; init; } = 1 << 20;

    /// <summary>Drop repeated documents (paragraphs / jsonl texts) across the whole version; they are counted.</summary>
    public bool DropDuplicateDocuments { get; init; } = true;

    public void Validate()
    {
        Vocabulary.Validate();
        if (ValidationFraction is < 0 or >= 1 || TokensPerShard < 1 || MaxCountedWords < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(ValidationFraction), "ValidationFraction must be in [0, 1), TokensPerShard >= 1 and MaxCountedWords >= 1024.");
        }
    }
}
