using System.Text;
using Microsoft.ML.Tokenizers;
using Pipeline.Core.Text;

namespace Pipeline.Tests.Tokenization;

public class WordPieceEncoderTests
{
    // ids:              0      1      2      3      4       5    6     7      8       9    10     11   12   13   14   15   16   17   18   19   20   21   22   23   24     25    26   27     28   29
    internal static readonly string[] Vocab =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "hell", "##o", "##w", "##orld", "$", "+", "=", "<", ">", "|", "~", "^", "`", ",", "!", "cafe", "un", "##aff", "##able", "中", "国", "a", "'",
    ];

    internal static WordPieceEncoder Create(TextNormalization? normalization = null) =>
        WordPieceEncoder.Load(new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', Vocab) + "\n")), normalization ?? TextNormalization.Default);

    [Theory]
    [InlineData("hello world", new[] { 5, 6 })]
    [InlineData("Hello, World!", new[] { 5, 20, 6, 21 })]
    [InlineData("hello\nworld", new[] { 5, 6 })] // BertTokenizer would give hell ##ow ##orld (#7724)
    [InlineData("hello\tworld\r\nhello", new[] { 5, 6, 5 })]
    [InlineData("$+=<>|~^`", new[] { 11, 12, 13, 14, 15, 16, 17, 18, 19 })] // BertTokenizer drops these (#7725)
    [InlineData("a$b", new[] { 28, 11, 1 })]
    [InlineData("CAFÉ", new[] { 22 })]
    [InlineData("unaffable", new[] { 23, 24, 25 })]
    [InlineData("中国", new[] { 26, 27 })] // each CJK ideograph is its own word
    [InlineData("中国hello", new[] { 26, 27, 5 })]
    [InlineData("🙂", new[] { 1 })]
    [InlineData("hello 🙂 world", new[] { 5, 1, 6 })]
    [InlineData("don't", new[] { 1, 29, 1 })]
    [InlineData("", new int[0])]
    [InlineData("   \n ", new int[0])]
    [InlineData("hello [MASK] world", new[] { 5, 4, 6 })] // literal special tokens are matched before lower-casing
    [InlineData("[MASK][MASK]", new[] { 4, 4 })]
    [InlineData("[mask]", new[] { 1, 1, 1 })] // not a special token: "[", "mask", "]" (brackets not in vocab)
    public void Tricky_strings_give_the_expected_ids(string text, int[] expected)
    {
        Assert.Equal(expected, Create().EncodeToIds(text));
    }

    [Fact]
    public void A_word_longer_than_100_characters_is_one_unknown()
    {
        var encoder = Create();
        Assert.Equal(new[] { 1 }, encoder.EncodeToIds(new string('a', 101)));
        Assert.Equal(new[] { 5, 1, 6 }, encoder.EncodeToIds("hello " + new string('o', 500) + " world"));
    }

    [Fact]
    public void Encode_frames_with_cls_sep_and_truncates_keeping_sep()
    {
        var encoder = Create();
        var full = encoder.Encode("hello world hello", 16);
        Assert.Equal(new[] { 2, 5, 6, 5, 3 }, full.InputIds);
        Assert.Equal(new[] { 1, 1, 1, 1, 1 }, full.AttentionMask);
        Assert.False(full.Truncated);

        var cut = encoder.Encode("hello world hello", 3);
        Assert.Equal(new[] { 2, 5, 3 }, cut.InputIds);
        Assert.True(cut.Truncated);
        Assert.Throws<ArgumentOutOfRangeException>(() => encoder.Encode("x", 1));
    }

    [Fact]
    public void EncodeBatch_pads_to_the_longest_row_with_zero_mask()
    {
        var batch = Create().EncodeBatch(["hello", "hello world world", ""], 8);
        Assert.Equal(3, batch.BatchSize);
        Assert.Equal(5, batch.SequenceLength);
        Assert.Equal(new long[] { 2, 5, 3, 0, 0, 2, 5, 6, 6, 3, 2, 3, 0, 0, 0 }, batch.InputIds);
        Assert.Equal(new long[] { 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 }, batch.AttentionMask);
        Assert.All(batch.TokenTypeIds, t => Assert.Equal(0, t));
    }

    [Fact]
    public void Decode_glues_continuation_pieces_and_skips_specials()
    {
        var encoder = Create();
        var ids = encoder.Encode("Unaffable, hello!", 32).InputIds;
        Assert.Equal("unaffable , hello !", encoder.Decode(ids));
        Assert.Equal("[CLS] unaffable , hello ! [SEP]", encoder.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void Special_ids_come_from_the_vocabulary()
    {
        var encoder = Create();
        Assert.Equal((0, 1, 2, 3, 4), (encoder.PadId, encoder.UnkId, encoder.ClsId, encoder.SepId, encoder.MaskId));
        Assert.Equal(Vocab.Length, encoder.VocabSize);
        var missing = new MemoryStream(Encoding.UTF8.GetBytes("[PAD]\n[UNK]\nhello\n"));
        var error = Assert.Throws<InvalidDataException>(() => WordPieceEncoder.Load(missing, TextNormalization.Default));
        Assert.Contains("[CLS]", error.Message);
    }

    [Fact]
    public void Vocab_with_bom_and_crlf_loads_the_same_ids()
    {
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(string.Join("\r\n", Vocab) + "\r\n")).ToArray();
        var encoder = WordPieceEncoder.Load(new MemoryStream(bytes), TextNormalization.Default);
        Assert.Equal(Create().EncodeToIds("Hello, world! unaffable"), encoder.EncodeToIds("Hello, world! unaffable"));
        Assert.Equal(Vocab.Length, encoder.VocabSize);
    }

    [Fact]
    public void Chunks_joined_by_newline_encode_like_the_chunks_one_by_one()
    {
        var encoder = Create();
        string[] lines = ["Hello world", "hello, world!", "unaffable cafe"];
        var separately = lines.SelectMany(encoder.EncodeToIds).ToArray();
        Assert.Equal(separately, encoder.EncodeToIds(string.Join('\n', lines)));
    }

    [Fact]
    public void Plain_BertTokenizer_has_the_pitfalls_this_encoder_avoids()
    {
        // Keeps the reason for our own normaliser + pre-tokeniser visible: if Microsoft.ML.Tokenizers fixes #7724/#7725
        // this test fails and the workaround can be reconsidered.
        var bert = BertTokenizer.Create(new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', Vocab) + "\n")), new BertOptions { LowerCaseBeforeTokenization = true });
        var dropped = bert.EncodeToIds("$ + =", addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true);
        Assert.NotEqual(new[] { 11, 12, 13 }, dropped);
        Assert.Equal(new[] { 11, 12, 13 }, Create().EncodeToIds("$ + ="));
    }

    [Fact]
    public void The_word_cache_never_changes_an_id_cold_warm_or_shared_between_threads()
    {
        // Reference: Microsoft.ML.Tokenizers' WordPieceTokenizer on the whole normalised text, no cache involved.
        var reference = WordPieceTokenizer.Create(new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', Vocab) + "\n")), new WordPieceOptions
        {
            PreTokenizer = BertPreTokenizer.Instance,
            UnknownToken = SpecialTokens.Unk,
            ContinuingSubwordPrefix = SpecialTokens.ContinuationPrefix,
            MaxInputCharsPerWord = SpecialTokens.MaxInputCharsPerWord,
        });
        string[] pieces = ["hello", "World", "unaffable", "CAFÉ", "中国", "🙂", "$+=", "don't", "hellow", new string('x', 120), "a", "Ünaffable", "world!", "ﬁne", "hellowor", "helloworl",
            "(¶120345)", "9876543210", "x1y2", "naïve", "§3", "«hello»", "world\u00A0hello", new string('h', 100), new string('h', 101)];
        var rng = new Random(11);
        var texts = Enumerable.Range(0, 200).Select(_ => string.Join(rng.Next(3) switch { 0 => " ", 1 => "\n", _ => "  \t" },
            Enumerable.Range(0, rng.Next(1, 30)).Select(_ => pieces[rng.Next(pieces.Length)]))).ToArray();
        var encoder = Create();
        var session = Create().CreateSession(); // the single-thread encoder of ingestion, with its flat word memo
        int[] SessionIds(string text)
        {
            var ids = new List<int> { -1 }; // appends after what is there
            session.AppendIds(text, ids);
            return [.. ids.Skip(1)];
        }

        foreach (var text in texts)
        {
            var expected = reference.EncodeToIds(TextNormalizer.Default.Normalize(text), considerPreTokenization: true, considerNormalization: false);
            Assert.Equal(expected, encoder.EncodeToIds(text)); // first sight: words are tokenized and cached
            Assert.Equal(expected, encoder.EncodeToIds(text)); // warm: every word from the cache
            Assert.Equal(expected, SessionIds(text)); // first sight (or second: admitted on the second miss)
            Assert.Equal(expected, SessionIds(text)); // warm
        }

        var shared = Create();
        var results = new int[texts.Length][];
        Parallel.For(0, texts.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k => results[k % texts.Length] = shared.EncodeToIds(texts[k % texts.Length]));
        for (var k = 0; k < texts.Length; k++)
        {
            Assert.Equal(encoder.EncodeToIds(texts[k]), results[k]);
        }
    }
}
