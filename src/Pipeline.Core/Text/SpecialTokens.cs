namespace Pipeline.Core.Text;

/// <summary>The BERT special tokens, in the order the vocabulary trainer writes them (ids 0..4).</summary>
public static class SpecialTokens
{
    public const string Pad = "[PAD]";
    public const string Unk = "[UNK]";
    public const string Cls = "[CLS]";
    public const string Sep = "[SEP]";
    public const string Mask = "[MASK]";

    public const string ContinuationPrefix = "##";

    /// <summary>HF BERT: a word longer than this many characters is one [UNK].</summary>
    public const int MaxInputCharsPerWord = 100;

    public static IReadOnlyList<string> All { get; } = [Pad, Unk, Cls, Sep, Mask];
}
