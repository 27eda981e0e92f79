using Pipeline.Core.Text;

namespace Pipeline.Inference.Text;

/// <summary>Serves with Core's <see cref="WordPieceEncoder"/>: the tokeniser the training shards were written with.</summary>
public sealed class WordPieceTokenizerFactory : ITextTokenizerFactory
{
    public ITextTokenizer Create(Stream vocabTxt, TextModelSettings settings) =>
        new WordPieceTextTokenizer(WordPieceEncoder.Load(vocabTxt, new TextNormalization
        {
            Nfkc = settings.Nfkc,
            Lowercase = settings.Lowercase,
            StripAccents = settings.StripAccents,
        }));

    private sealed class WordPieceTextTokenizer(WordPieceEncoder encoder) : ITextTokenizer
    {
        public int PadId => encoder.PadId;

        public int ClsId => encoder.ClsId;

        public int SepId => encoder.SepId;

        public int MaskId => encoder.MaskId;

        public int VocabSize => encoder.VocabSize;

        public TokenizedText Encode(string text, int maxLength)
        {
            var body = encoder.EncodeToIds(text);
            var kept = Math.Min(body.Length, maxLength - 2);
            var ids = new int[kept + 2];
            ids[0] = encoder.ClsId;
            Array.Copy(body, 0, ids, 1, kept);
            ids[^1] = encoder.SepId;
            return new TokenizedText(ids, body.Length > kept, body.Length + 2);
        }

        public int[] EncodePieces(string text) => encoder.EncodeToIds(text);

        public string Token(int id) => encoder.IdToToken(id);
    }
}
