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
}
