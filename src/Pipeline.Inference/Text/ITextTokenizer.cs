namespace Pipeline.Inference.Text;

/// <summary>
/// The tokeniser seam of the serving path. The implementation wraps Core's WordPieceEncoder, the class ingestion and
/// training use, so a text becomes the same ids here as it did in the training data.
/// </summary>
public interface ITextTokenizer
{
    int PadId { get; }

    int ClsId { get; }

    int SepId { get; }

    int MaskId { get; }

    int VocabSize { get; }

    /// <summary>[CLS] tokens [SEP], cut to <paramref name="maxLength"/> (the [SEP] is kept); reports whether it cut.</summary>
    TokenizedText Encode(string text, int maxLength);

    /// <summary>Word pieces without special tokens (used to splice [MASK] ids between text pieces).</summary>
    int[] EncodePieces(string text);

    /// <summary>The vocabulary entry of one id.</summary>
    string Token(int id);
}

/// <summary>Token ids of one sequence, and whether tokens beyond the model's length were dropped.</summary>
public sealed record TokenizedText(int[] Ids, bool Truncated, int OriginalLength);
