namespace Pipeline.Training.Text;

/// <summary>
/// What masking needs from vocab.txt (BERT format, one token per line, id = line number): the special ids, which
/// ids are special (never masked, never drawn as random replacements) and which are "##" continuation pieces.
/// </summary>
public sealed class MlmVocabulary
{
    private MlmVocabulary(string[] tokens)
    {
        Tokens = tokens;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < tokens.Length; i++)
        {
            index.TryAdd(tokens[i], i);
        }

        int Id(string token) => index.TryGetValue(token, out var id)
            ? id
            : throw new InvalidDataException($"vocab.txt has no {token} token; build the vocabulary with the BERT special tokens [PAD] [UNK] [CLS] [SEP] [MASK].");
        Pad = Id("[PAD]");
        Unk = Id("[UNK]");
        Cls = Id("[CLS]");
        Sep = Id("[SEP]");
        Mask = Id("[MASK]");
        IsSpecial = new bool[tokens.Length];
        IsContinuation = new bool[tokens.Length];
        for (var i = 0; i < tokens.Length; i++)
        {
            // [unused*] and any other bracketed tokens are special too: never predicted as masked words.
            IsSpecial[i] = tokens[i].Length > 2 && tokens[i][0] == '[' && tokens[i][^1] == ']';
            IsContinuation[i] = tokens[i].StartsWith("##", StringComparison.Ordinal) && tokens[i].Length > 2;
        }
    }

    public IReadOnlyList<string> Tokens { get; }

    public int Size => Tokens.Count;

    public int Pad { get; }

    public int Unk { get; }

    public int Cls { get; }

    public int Sep { get; }

    public int Mask { get; }

    public bool[] IsSpecial { get; }

    public bool[] IsContinuation { get; }

    public static MlmVocabulary Load(string path) => FromTokens(File.ReadAllLines(path).Where(l => l.Length > 0).ToArray());

    public static MlmVocabulary FromTokens(IReadOnlyList<string> tokens) => new(tokens.ToArray());
}
