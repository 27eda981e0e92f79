using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Pipeline.Core.Text;

/// <summary>
/// HF BERT's pre-tokenisation (BasicTokenizer) for Microsoft.ML.Tokenizers' WordPieceTokenizer: split on whitespace,
/// and every punctuation character and every CJK ideograph is a word of its own. "Punctuation" is HF's definition:
/// all ASCII non-alphanumerics ($ + = &lt; &gt; | ~ ^ ` included, which Microsoft's BertTokenizer silently drops) plus
/// Unicode P* categories. Used for encoding and for vocabulary training, so both see the same words.
/// </summary>
public sealed class BertPreTokenizer : PreTokenizer
{
    public static BertPreTokenizer Instance { get; } = new();

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : Split(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        text.IsEmpty ? [] : Split(text);

    /// <summary>The (offset, length) of each word, in order.</summary>
    public static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var words = new List<(int, int)>(text.Length / 4 + 1);
        var pos = 0;
        while (NextWord(text, ref pos, out var start, out var length))
        {
            words.Add((start, length));
        }

        return words;
    }

    /// <summary>
    /// The next word at or after <paramref name="pos"/> (which moves past it), without allocating: the one splitting
    /// rule that <see cref="Split"/>, the encoder's cached path and the vocabulary trainer's counting all use.
    /// </summary>
    public static bool NextWord(ReadOnlySpan<char> text, ref int pos, out int start, out int length)
    {
        var i = pos;
        start = -1;
        while (i < text.Length)
        {
            var c = text[i];
            int width;
            bool isSpace, isOwnWord;
            if (c < 128)
            {
                width = 1;
                isSpace = c is ' ' or '\t' or '\n' or '\r';
                isOwnWord = !isSpace && IsAsciiPunctuation(c);
            }
            else
            {
                Rune.DecodeFromUtf16(text[i..], out var rune, out width);
                isSpace = Rune.IsWhiteSpace(rune);
                isOwnWord = !isSpace && (IsPunctuation(rune) || IsCjk(rune.Value));
            }

            if (isSpace || isOwnWord)
            {
                if (start >= 0)
                {
                    length = i - start;
                    pos = i;
                    return true;
                }

                if (isOwnWord)
                {
                    start = i;
                    length = width;
                    pos = i + width;
                    return true;
                }
            }
            else if (start < 0)
            {
                start = i;
            }

            i += width;
        }

        pos = text.Length;
        if (start >= 0)
        {
            length = text.Length - start;
            return true;
        }

        length = 0;
        return false;
    }

    public static bool IsAsciiPunctuation(char c) => c is (>= '!' and <= '/') or (>= ':' and <= '@') or (>= '[' and <= '`') or (>= '{' and <= '~');

    public static bool IsPunctuation(Rune r)
    {
        if (r.IsAscii)
        {
            return IsAsciiPunctuation((char)r.Value);
        }

        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>HF BERT's "Chinese character" ranges (CJK Unified Ideographs and extensions, compatibility ideographs).</summary>
    public static bool IsCjk(int cp) =>
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
        || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
