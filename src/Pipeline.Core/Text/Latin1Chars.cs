namespace Pipeline.Core.Text;

/// <summary>
/// What <see cref="TextNormalizer"/>'s full path (NFKC, lower-case, accent stripping, controls, whitespace) and HF-BERT
/// pre-tokenisation do to each character below U+0100, for one <see cref="TextNormalization"/>, found by running that
/// full path on the character between two letters: it becomes one given character that is part of a word, one given
/// punctuation character (a word of its own), a word boundary (U+00A0, U+0085), or it vanishes (C1 controls, the
/// soft hyphen). Characters that become several characters (U+00BC "1/4", U+00A8 " \u0308") are <see cref="Slow"/>.
/// A whitespace-delimited chunk made only of such characters (ASCII included) normalises character by character:
/// below U+0100 nothing is a combining mark, no two characters compose under NFKC, and lower-casing and mark
/// stripping are per character; a test checks every pair of characters below U+0100 against the full path.
/// </summary>
internal sealed class Latin1Chars
{
    public const byte Word = 0;
    public const byte Space = 1;
    public const byte Control = 2;
    public const byte Punct = 3;
    public const byte Slow = 4;

    /// <summary>Class of each character below U+0100.</summary>
    public readonly byte[] Classes = new byte[256];

    /// <summary>The character a <see cref="Word"/> or <see cref="Punct"/> character becomes.</summary>
    public readonly char[] Map = new char[256];

    public static Latin1Chars Build(TextNormalizer normalizer)
    {
        var table = new Latin1Chars();
        var lowercase = normalizer.Options.Lowercase;
        for (var c = 0; c < 256; c++)
        {
            var ch = (char)c;
            table.Map[c] = ch;
            if (c < 128)
            {
                // The normaliser's own ASCII path (WordScanner's table): lower-case, controls dropped, ASCII
                // punctuation a word of its own.
                var ascii = WordScanner.Classes[c];
                table.Classes[c] = ascii switch
                {
                    WordScanner.Space => Space,
                    WordScanner.Control => Control,
                    WordScanner.Punct => Punct,
                    _ => Word,
                };
                if (lowercase && ascii == WordScanner.Upper)
                {
                    table.Map[c] = (char)(c | 0x20);
                }

                continue;
            }

            table.Classes[c] = Slow;
            var alone = normalizer.NormalizeChunk(ch.ToString());
            var between = normalizer.NormalizeChunk("a" + ch + "a");
            var words = BertPreTokenizer.Split(between).Select(w => between.Substring(w.Offset, w.Length)).ToArray();
            if (alone.Length == 0 && between == "a a" && words is ["a", "a"])
            {
                table.Classes[c] = Space;
            }
            else if (alone.Length == 0 && between == "aa" && words is ["aa"])
            {
                table.Classes[c] = Control;
            }
            else if (alone.Length == 1 && between == "a" + alone + "a")
            {
                table.Map[c] = alone[0];
                if (words.Length == 3 && words[0] == "a" && words[1] == alone && words[2] == "a")
                {
                    table.Classes[c] = Punct;
                }
                else if (words.Length == 1)
                {
                    table.Classes[c] = Word;
                }
            }
        }

        return table;
    }
}
