using System.Text;
using Microsoft.ML.Tokenizers;

namespace Pipeline.Core.Text;

/// <summary>
/// The one tokeniser of the pipeline: <see cref="TextNormalizer"/> + HF-BERT pre-tokenisation + Microsoft.ML.Tokenizers'
/// WordPieceTokenizer over a BERT vocab.txt. Ingestion (shards), training and inference all encode through this class,
/// so the same text gives the same ids byte for byte. Special tokens written literally in the text ("[MASK]") are
/// matched before normalisation, as HF does. Thread-safe.
/// </summary>
public sealed class WordPieceEncoder
{
    private readonly WordPieceTokenizer _tokenizer;
    private readonly string[] _vocab;
    private readonly Dictionary<string, int> _ids;

    /// <summary>
    /// Word -> ids memo in front of the tokenizer (see <see cref="WordIdsCache"/>): a normalised, pre-tokenised word
    /// always encodes to the same ids, so a repeat costs one hash lookup instead of a WordPiece search. Bounded
    /// (2^17 slots); only words up to <see cref="MaxCachedWordChars"/> characters are kept.
    /// </summary>
    private readonly WordIdsCache _cache = new();

    [ThreadStatic]
    private static char[]? t_scratch;


    public const int MaxCachedWordChars = 48;

    private WordPieceEncoder(string[] vocab, TextNormalization normalization)
    {
        _vocab = vocab;
        _ids = new Dictionary<string, int>(vocab.Length, StringComparer.Ordinal);
        for (var i = 0; i < vocab.Length; i++)
        {
            _ids.TryAdd(vocab[i], i);
        }

        foreach (var special in SpecialTokens.All)
        {
            if (!_ids.ContainsKey(special))
            {
                throw new InvalidDataException($"vocab.txt has no {special} line; a BERT vocabulary needs {string.Join(' ', SpecialTokens.All)}.");
            }
        }

        Normalization = normalization;
        Normalizer = new TextNormalizer(normalization);
        PadId = _ids[SpecialTokens.Pad];
        UnkId = _ids[SpecialTokens.Unk];
        ClsId = _ids[SpecialTokens.Cls];
        SepId = _ids[SpecialTokens.Sep];
        MaskId = _ids[SpecialTokens.Mask];

        var bytes = Encoding.UTF8.GetBytes(string.Join('\n', vocab) + "\n");
        using var stream = new MemoryStream(bytes);
        _tokenizer = WordPieceTokenizer.Create(stream, new WordPieceOptions
        {
            PreTokenizer = BertPreTokenizer.Instance,
            Normalizer = null, // TextNormalizer runs first; the tokenizer sees normalised text only.
            UnknownToken = SpecialTokens.Unk,
            ContinuingSubwordPrefix = SpecialTokens.ContinuationPrefix,
            MaxInputCharsPerWord = SpecialTokens.MaxInputCharsPerWord,
        });
    }

    public TextNormalization Normalization { get; }

    public TextNormalizer Normalizer { get; }

    public int VocabSize => _vocab.Length;

    public IReadOnlyList<string> Vocabulary => _vocab;

    public int PadId { get; }

    public int UnkId { get; }

    public int ClsId { get; }

    public int SepId { get; }

    public int MaskId { get; }

    /// <summary>Loads a BERT vocab.txt (one token per line, id = line number; UTF-8 with or without BOM).</summary>
    public static WordPieceEncoder Load(Stream vocabTxt, TextNormalization normalization)
    {
        ArgumentNullException.ThrowIfNull(vocabTxt);
        ArgumentNullException.ThrowIfNull(normalization);
        var lines = new List<string>();
        using (var reader = new StreamReader(vocabTxt, new UTF8Encoding(false, true), detectEncodingFromByteOrderMarks: true, leaveOpen: true))
        {
            while (reader.ReadLine() is { } line)
            {
                lines.Add(line);
            }
        }

        // A trailing empty line is the file's final newline, not a token.
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return new WordPieceEncoder([.. lines], normalization);
    }

    public static WordPieceEncoder LoadFile(string vocabPath, TextNormalization normalization)
    {
        using var stream = File.OpenRead(vocabPath);
        return Load(stream, normalization);
    }

    /// <summary>Token ids of the text without [CLS]/[SEP] and without truncation (what the shards store).</summary>
    public int[] EncodeToIds(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        AppendIds(text, ids);
        return [.. ids];
    }

    /// <summary>Appends the ids of the text (no [CLS]/[SEP]) to <paramref name="ids"/>.</summary>
    public void AppendIds(string text, List<int> ids)
    {
        ArgumentNullException.ThrowIfNull(text);
        AppendIds(text.AsSpan(), ids);
    }

    /// <summary>Appends the ids of the text (no [CLS]/[SEP]) to <paramref name="ids"/>; allocation-free on cached ASCII words.</summary>
    public void AppendIds(ReadOnlySpan<char> text, List<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var scratch = t_scratch;
        var sink = new EncodeSink(this, ids);
        AppendIds(text, ids, ref scratch, ref sink);
        t_scratch = scratch;
    }

    /// <summary>
    /// A single-threaded encoder over this vocabulary for bulk encoding on one thread (ingestion's shards): the same
    /// ids as <see cref="AppendIds(ReadOnlySpan{char}, List{int})"/>, through a word memo of its own in flat arrays
    /// (<see cref="FlatWordIds"/>) instead of the shared, thread-safe cache. Not thread-safe; one per thread.
    /// </summary>
    public Session CreateSession() => new(this);

    /// <summary>See <see cref="CreateSession"/>.</summary>
    public sealed class Session
    {
        private readonly WordPieceEncoder _encoder;
        private readonly FlatWordIds _memo = new();
        private readonly List<int> _missIds = new(64);
        private char[]? _scratch;

        internal Session(WordPieceEncoder encoder) => _encoder = encoder;

        public WordPieceEncoder Encoder => _encoder;

        /// <summary>Appends the ids of the text (no [CLS]/[SEP]) to <paramref name="ids"/>, as the encoder does.</summary>
        public void AppendIds(ReadOnlySpan<char> text, List<int> ids)
        {
            ArgumentNullException.ThrowIfNull(ids);
            var sink = new SessionSink(this, ids);
            _encoder.AppendIds(text, ids, ref _scratch, ref sink);
        }

        private void EncodeWord(ReadOnlySpan<char> word, int hash, List<int> ids)
        {
            if (_memo.TryGet(word, hash, out var cached))
            {
                if (cached.Length == 1)
                {
                    ids.Add(cached[0]);
                }
                else
                {
                    ids.AddRange(cached);
                }

                return;
            }

            // The word is one pre-token already (BertPreTokenizer would find exactly it): the tokenizer need not split it again.
            _missIds.Clear();
            _missIds.AddRange(_encoder._tokenizer.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
            var encoded = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_missIds);
            if (word.Length <= MaxCachedWordChars)
            {
                _memo.TryAdd(word, hash, encoded);
            }

            ids.AddRange(encoded);
        }

        private readonly struct SessionSink(Session session, List<int> ids) : IWordSink
        {
            public void OnWord(ReadOnlySpan<char> word, int hash) => session.EncodeWord(word, hash, ids);
        }
    }

    private void AppendIds<TSink>(ReadOnlySpan<char> text, List<int> ids, ref char[]? scratch, ref TSink sink)
        where TSink : struct, IWordSink
    {
        var start = 0;
        while (start < text.Length)
        {
            var (at, specialId, specialLength) = FindSpecial(text, start);
            var end = at < 0 ? text.Length : at;
            if (end > start)
            {
                // The words are exactly those the tokenizer's pre-tokenizer (BertPreTokenizer) would find in the
                // normalised text (WordScanner), and WordPiece encodes each word on its own, so encoding word by word
                // gives the ids of encoding the whole text.
                WordScanner.Scan(Normalizer, text[start..end], ref scratch, ref sink);
            }

            if (at < 0)
            {
                break;
            }

            ids.Add(specialId);
            start = at + specialLength;
        }
    }

    /// <summary>[CLS] ids [SEP], truncated to <paramref name="maxLength"/> (the [SEP] is kept), no padding.</summary>
    public EncodedText Encode(string text, int maxLength)
    {
        if (maxLength < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "maxLength must leave room for [CLS] and [SEP] (>= 2).");
        }

        var body = EncodeToIds(text);
        var n = Math.Min(body.Length, maxLength - 2);
        var ids = new int[n + 2];
        ids[0] = ClsId;
        Array.Copy(body, 0, ids, 1, n);
        ids[^1] = SepId;
        var mask = new int[ids.Length];
        Array.Fill(mask, 1);
        return new EncodedText(ids, mask, Truncated: body.Length > n);
    }

    /// <summary>
    /// Encodes several texts padded with [PAD] to the longest (at most <paramref name="maxLength"/>), row-major int64
    /// as the ONNX encoder takes them (input_ids, attention_mask, token_type_ids all zeros).
    /// </summary>
    public EncodedBatch EncodeBatch(IReadOnlyList<string> texts, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var encoded = new EncodedText[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            encoded[i] = Encode(texts[i], maxLength);
        }

        var seq = encoded.Length == 0 ? 0 : encoded.Max(e => e.Length);
        var ids = new long[encoded.Length * seq];
        var mask = new long[encoded.Length * seq];
        for (var i = 0; i < encoded.Length; i++)
        {
            var row = i * seq;
            for (var j = 0; j < seq; j++)
            {
                var inside = j < encoded[i].Length;
                ids[row + j] = inside ? encoded[i].InputIds[j] : PadId;
                mask[row + j] = inside ? 1 : 0;
            }
        }

        return new EncodedBatch(encoded.Length, seq, ids, mask, new long[ids.Length]);
    }

    /// <summary>The WordPiece tokens of the text (no [CLS]/[SEP]), for inspection and tests.</summary>
    public IReadOnlyList<string> Tokenize(string text) => [.. EncodeToIds(text).Select(IdToToken)];

    /// <summary>
    /// Joins tokens back into text: "##" pieces glued to the previous token, others separated by a space. Normalisation
    /// is not undone (lower-case stays lower-case).
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)_vocab.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id outside the vocabulary of {_vocab.Length}.");
            }

            if (skipSpecialTokens && IsSpecial(id))
            {
                continue;
            }

            var token = _vocab[id];
            if (token.StartsWith(SpecialTokens.ContinuationPrefix, StringComparison.Ordinal) && token.Length > 2 && sb.Length > 0)
            {
                sb.Append(token, 2, token.Length - 2);
            }
            else
            {
                if (sb.Length > 0)
                {
                    sb.Append(' ');
                }

                sb.Append(token);
            }
        }

        return sb.ToString();
    }

    public bool IsSpecial(int id) => id == PadId || id == UnkId || id == ClsId || id == SepId || id == MaskId;

    public string IdToToken(int id) => _vocab[id];

    /// <summary>The id of a vocabulary entry, or null.</summary>
    public int? TokenToId(string token) => _ids.TryGetValue(token, out var id) ? id : null;

    private void EncodePlain(ReadOnlySpan<char> segment, List<int> ids)
    {
        // The words are exactly those the tokenizer's pre-tokenizer (BertPreTokenizer) would find in the normalised
        // text (WordScanner), and WordPiece encodes each word on its own, so encoding word by word gives the ids of
        // encoding the whole text.
        var scratch = t_scratch;
        var sink = new EncodeSink(this, ids);
        WordScanner.Scan(Normalizer, segment, ref scratch, ref sink);
        t_scratch = scratch;
    }

    private void EncodeWord(ReadOnlySpan<char> word, int hash, List<int> ids)
    {
        if (_cache.TryGet(word, hash, out var cached))
        {
            if (cached.Length == 1)
            {
                ids.Add(cached[0]);
            }
            else
            {
                ids.AddRange(cached.AsSpan());
            }

            return;
        }

        // The word is one pre-token already (BertPreTokenizer would find exactly it): the tokenizer need not split it again.
        var encoded = _tokenizer.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false);
        if (word.Length <= MaxCachedWordChars)
        {
            var copy = new int[encoded.Count];
            for (var i = 0; i < copy.Length; i++)
            {
                copy[i] = encoded[i];
            }

            _cache.TryAdd(word, hash, copy);
            ids.AddRange(copy.AsSpan());
        }
        else
        {
            ids.AddRange(encoded);
        }
    }

    private readonly struct EncodeSink(WordPieceEncoder encoder, List<int> ids) : IWordSink
    {
        public void OnWord(ReadOnlySpan<char> word, int hash) => encoder.EncodeWord(word, hash, ids);
    }

    private (int At, int Id, int Length) FindSpecial(ReadOnlySpan<char> text, int start)
    {
        var i = start;
        while (i < text.Length)
        {
            var next = text[i..].IndexOf('[');
            if (next < 0)
            {
                break;
            }

            i += next;
            foreach (var special in SpecialTokens.All)
            {
                if (text[i..].StartsWith(special, StringComparison.Ordinal))
                {
                    return (i, _ids[special], special.Length);
                }
            }

            i++;
        }

        return (-1, 0, 0);
    }
}

/// <summary>One encoded text: [CLS] ids [SEP] and its attention mask (all ones; no padding).</summary>
public sealed record EncodedText(int[] InputIds, int[] AttentionMask, bool Truncated)
{
    public int Length => InputIds.Length;
}

/// <summary>A padded batch, row-major [BatchSize, SequenceLength], int64 as the ONNX models take it.</summary>
public sealed record EncodedBatch(int BatchSize, int SequenceLength, long[] InputIds, long[] AttentionMask, long[] TokenTypeIds);
