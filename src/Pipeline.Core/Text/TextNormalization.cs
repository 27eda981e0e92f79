namespace Pipeline.Core.Text;

/// <summary>
/// How text is normalised before WordPiece, stated once for ingestion, training and serving. Written into the dataset
/// manifest and the model's config.json so a model is always served with the normalisation it was trained with.
/// Control characters are always removed and every whitespace character (\n \t \r included) is a word boundary.
/// </summary>
public sealed record TextNormalization
{
    /// <summary>Unicode NFKC before everything else (full-width forms, ligatures, compatibility characters).</summary>
    public bool Nfkc { get; init; } = true;

    /// <summary>Lower-case (invariant culture), as BERT uncased.</summary>
    public bool Lowercase { get; init; } = true;

    /// <summary>Decompose (NFD) and drop non-spacing marks: "café" -> "cafe", as BERT uncased.</summary>
    public bool StripAccents { get; init; } = true;

    /// <summary>The BERT-uncased defaults.</summary>
    public static TextNormalization Default { get; } = new();
}
