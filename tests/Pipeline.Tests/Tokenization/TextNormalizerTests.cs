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
                var normalized = normalizer.Normalize(text.AsSpan(), ref scratch).ToString();
                var expected = new List<string>();
                var pos = 0;
                while (BertPreTokenizer.NextWord(normalized, ref pos, out var start, out var length))
                {
                    expected.Add(normalized.Substring(start, length));
                }

                var sink = new CollectSink { Words = [] };
                WordScanner.Scan(normalizer, text, ref scanScratch, ref sink);
                Assert.Equal(expected, sink.Words.Select(w => w.Word));
                Assert.All(sink.Words, w => Assert.Equal(WordHash.Of(w.Word), w.Hash));
            }
        }
    }

    private struct CollectSink : IWordSink
    {
        public List<(string Word, int Hash)> Words;

        public readonly void OnWord(ReadOnlySpan<char> word, int hash) => Words.Add((word.ToString(), hash));
    }
}
