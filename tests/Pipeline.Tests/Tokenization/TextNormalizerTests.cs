using Pipeline.Core.Text;

namespace Pipeline.Tests.Tokenization;

public class TextNormalizerTests
{
    [Theory]
    [InlineData("Hello World", "hello world")]
    [InlineData("hello\nworld", "hello world")]
    [InlineData("a\t\tb\r\nc", "a b c")]
    [InlineData("  leading and trailing  ", "leading and trailing")]
    [InlineData("Café Naïve", "cafe naive")]
    [InlineData("ＡＢＣ１２３", "abc123")] // full-width -> ASCII (NFKC)
    [InlineData("ﬁne", "fine")] // ligature (NFKC)
    [InlineData("zero\u200Bwidth soft\u00ADhyphen", "zerowidth softhyphen")] // Cf removed
    [InlineData("bell\u0007 nul\0 ok", "bell nul ok")]
    [InlineData("no\u00A0break\u2003em", "no break em")]
    [InlineData("", "")]
    [InlineData(" \n\t ", "")]
    public void Default_normalisation_matches_bert_uncased(string input, string expected)
    {
        Assert.Equal(expected, TextNormalizer.Default.Normalize(input));
    }

    [Fact]
    public void Options_turn_off_lowercase_accents_and_nfkc()
    {
        var normalizer = new TextNormalizer(new TextNormalization { Nfkc = false, Lowercase = false, StripAccents = false });
        Assert.Equal("Café ＡＢ x", normalizer.Normalize("Café\nＡＢ\tx"));
    }

    [Theory]
    [InlineData("A\vB\fC\u007FD", "abcd")]
    [InlineData("x\u00e9 \n Y\tz", "xe y z")]
    [InlineData("UPPER lower MiXeD 123 !?", "upper lower mixed 123 !?")]
    public void Ascii_fast_path_and_unicode_path_agree(string input, string expected)
    {
        Assert.Equal(expected, TextNormalizer.Default.Normalize(input));
        Assert.Equal(expected + " e", TextNormalizer.Default.Normalize(input + " \u00c9")); // forces the Unicode path
    }

    [Fact]
    public void Lone_surrogates_are_dropped_not_thrown()
    {
        Assert.Equal("ab", TextNormalizer.Default.Normalize("a\uD800b"));
        Assert.Equal("a😀b", TextNormalizer.Default.Normalize("a😀b"));
    }

    [Fact]
    public void Chunked_normalisation_equals_normalising_the_whole_text_at_once()
    {
        // The reference applies each step to the whole text: NFKC, lower-case, NFD + drop Mn, controls out, whitespace runs
        // to one space. The normaliser works chunk by chunk between ASCII whitespace (fast path on ASCII chunks).
        static string Reference(string s)
        {
            s = s.Normalize(System.Text.NormalizationForm.FormKC).ToLowerInvariant().Normalize(System.Text.NormalizationForm.FormD);
            var sb = new System.Text.StringBuilder();
            var pending = false;
            foreach (var c in s)
            {
                if (System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.NonSpacingMark)
                {
                    continue;
                }

                if (TextNormalizer.IsWhitespace(c))
                {
                    pending = sb.Length > 0;
                    continue;
                }

                if (TextNormalizer.IsControl(c))
                {
                    continue;
                }

                if (pending)
                {
                    sb.Append(' ');
                    pending = false;
                }

                sb.Append(c);
            }

            return sb.ToString();
        }

        string[] pieces = ["Hello", "WORLD", "Café", "e\u0301", "\u0301", "ﬁ", "ＡＢ", "\u00A0", "\u2003", "zero\u200Bwidth", "\u00AD", "\u0007", "中国", "😀",
            "(¶12)", "Ünïcödé", "İstanbul", "ß", "\u1100\u1161", "x\u0327\u0301", "don't", "$+=", "Ω", "\u2126", ",", "."];
        string[] separators = [" ", "\n", "\t", "\r\n", "  ", "", "\u00A0"];
        var rng = new Random(5);
        char[]? scratch = null;
        for (var k = 0; k < 2000; k++)
        {
            var sb = new System.Text.StringBuilder();
            for (var j = rng.Next(1, 12); j > 0; j--)
            {
                sb.Append(separators[rng.Next(separators.Length)]).Append(pieces[rng.Next(pieces.Length)]);
            }

            var text = sb.ToString();
            var expected = Reference(text);
            Assert.Equal(expected, TextNormalizer.Default.Normalize(text));
            Assert.Equal(expected, new string(TextNormalizer.Default.Normalize(text.AsSpan(), ref scratch)));
        }
    }

    /// <summary>WordScanner (one fused pass) gives exactly the words of NextWord over the normalised text, with their hashes.</summary>
    [Fact]
    public void WordScannerEqualsNormaliseThenSplit()
    {
        string[] pieces = ["Hello", "WORLD", "Café", "e\u0301", "ﬁ", "ＡＢ", "\u00A0", "zero\u200Bwidth", "\u00AD", "\u0007", "中国", "😀",
            "(¶12)", "İstanbul", "don't", "$+=", "a,b.c", "X\u0001Y", "\u007F", "ab-CD", "\uFFFD", "[MASK]", "9th", "é"];
        string[] separators = [" ", "\n", "\t", "\r\n", "  ", "", "\u00A0", "\u3000"];
        var rng = new Random(11);
        char[]? scratch = null, scanScratch = null;
        foreach (var normalization in new[] { TextNormalization.Default, new TextNormalization { Lowercase = false, StripAccents = false } })
        {
            var normalizer = new TextNormalizer(normalization);
            for (var k = 0; k < 2000; k++)
            {
                var sb = new System.Text.StringBuilder();
                for (var j = rng.Next(1, 14); j > 0; j--)
                {
                    sb.Append(separators[rng.Next(separators.Length)]).Append(pieces[rng.Next(pieces.Length)]);
                }

                var text = sb.ToString();
                var expected = FullPathWords(normalizer, text, ref scratch);
                var sink = new CollectSink { Words = [] };
                WordScanner.Scan(normalizer, text, ref scanScratch, ref sink);
                Assert.Equal(expected, sink.Words.Select(w => w.Word));
                Assert.All(sink.Words, w => Assert.Equal(WordHash.Of(w.Word), w.Hash));
            }
        }
    }

    /// <summary>The words of the full path: the whole text normalised, then split by BertPreTokenizer.NextWord.</summary>
    private static List<string> FullPathWords(TextNormalizer normalizer, string text, ref char[]? scratch)
    {
        var normalized = normalizer.Normalize(text.AsSpan(), ref scratch).ToString();
        var words = new List<string>();
        var pos = 0;
        while (BertPreTokenizer.NextWord(normalized, ref pos, out var start, out var length))
        {
            words.Add(normalized.Substring(start, length));
        }

        return words;
    }

    private static readonly TextNormalization[] Normalizations =
    [
        TextNormalization.Default,
        new TextNormalization { Lowercase = false, StripAccents = false },
        new TextNormalization { Nfkc = false },
        new TextNormalization { Nfkc = false, Lowercase = false, StripAccents = false },
    ];

    /// <summary>
    /// Chunks of characters below U+0100 take WordScanner's character-by-character path (Latin1Chars); every pair of
    /// such characters, between letters and alone, and random Latin-1 strings scan to the words of the full path.
    /// </summary>
    [Fact]
    public void WordScanner_latin1_chunks_equal_the_full_path_for_every_pair()
    {
        char[]? scratch = null, scanScratch = null;
        var rng = new Random(5);
        foreach (var normalization in Normalizations)
        {
            var normalizer = new TextNormalizer(normalization);
            void Check(string text)
            {
                var expected = FullPathWords(normalizer, text, ref scratch);
                var sink = new CollectSink { Words = [] };
                WordScanner.Scan(normalizer, text, ref scanScratch, ref sink);
                if (!expected.SequenceEqual(sink.Words.Select(w => w.Word)))
                {
                    Assert.Fail($"{string.Join(" ", text.Select(c => ((int)c).ToString("X4")))}: expected [{string.Join("|", expected)}], scanned [{string.Join("|", sink.Words.Select(w => w.Word))}]");
                }

                Assert.All(sink.Words, w => Assert.Equal(WordHash.Of(w.Word), w.Hash));
            }

            for (var a = 1; a < 256; a++)
            {
                for (var b = 1; b < 256; b++)
                {
                    if (a >= 0x80 || b >= 0x80)
                    {
                        Check($"Q{(char)a}{(char)b}q");
                        Check($"{(char)a}{(char)b}");
                    }
                }
            }

            var sb = new System.Text.StringBuilder();
            for (var k = 0; k < 3000; k++)
            {
                sb.Clear();
                for (var j = rng.Next(1, 24); j > 0; j--)
                {
                    sb.Append(rng.Next(4) == 0 ? (char)rng.Next(0x80, 0x100) : (char)rng.Next(1, 0x80));
                }

                Check(sb.ToString());
            }
        }
    }

    /// <summary>The characters the generated and real corpora hold take the fast path (else the test above proves nothing about it).</summary>
    [Fact]
    public void Latin1_table_classifies_common_characters()
    {
        var table = TextNormalizer.Default.Latin1;
        Assert.Equal(Latin1Chars.Punct, table.Classes['¶']);
        Assert.Equal(Latin1Chars.Punct, table.Classes['§']);
        Assert.Equal(Latin1Chars.Word, table.Classes['é']);
        Assert.Equal('e', table.Map['é']);
        Assert.Equal('a', table.Map['À']);
        Assert.Equal(Latin1Chars.Space, table.Classes[' ']);
        Assert.Equal(Latin1Chars.Control, table.Classes['­']);
        Assert.Equal(Latin1Chars.Slow, table.Classes['¼']); // NFKC: "1⁄4"
        Assert.Equal('É', new TextNormalizer(new TextNormalization { Lowercase = false, StripAccents = false }).Latin1.Map['É']);
    }

    private struct CollectSink : IWordSink
    {
        public List<(string Word, int Hash)> Words;

        public readonly void OnWord(ReadOnlySpan<char> word, int hash) => Words.Add((word.ToString(), hash));
    }
}
