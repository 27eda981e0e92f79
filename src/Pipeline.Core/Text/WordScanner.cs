namespace Pipeline.Core.Text;

/// <summary>Receives the words found by <see cref="WordScanner"/>, each with its <see cref="WordHash"/>.</summary>
public interface IWordSink
{
    void OnWord(ReadOnlySpan<char> word, int hash);
}

/// <summary>
/// The words of raw text after <see cref="TextNormalizer"/> and HF-BERT pre-tokenisation, in one pass and without
/// building the normalised text: exactly the words of <see cref="BertPreTokenizer.NextWord"/> over
/// <see cref="TextNormalizer.Normalize(ReadOnlySpan{char}, ref char[])"/>, each with its hash computed on the way.
/// Pure-ASCII stretches (cut at ASCII whitespace) take a table-driven loop (lower-case, controls dropped, punctuation a
/// word of its own); a whitespace-delimited chunk holding any non-ASCII character is normalised whole by the full path
/// and split with NextWord, which is what the normaliser does chunk by chunk. Vocabulary counting and encoding both
/// scan through here, so they see the same words.
/// </summary>
public static class WordScanner
{
    private const byte WordChar = 0;
    private const byte Upper = 1;
    private const byte Space = 2;
    private const byte Punct = 3;
    private const byte Control = 4;

    private static readonly byte[] Classes = BuildClasses();
    private static readonly System.Buffers.SearchValues<char> AsciiWhitespace = System.Buffers.SearchValues.Create(" \t\n\r");

    /// <summary>Calls <paramref name="sink"/> for each normalised word of <paramref name="text"/>, in order.</summary>
    public static void Scan<TSink>(TextNormalizer normalizer, ReadOnlySpan<char> text, ref char[]? scratch, ref TSink sink)
        where TSink : struct, IWordSink
    {
        ArgumentNullException.ThrowIfNull(normalizer);
        if (text.IsEmpty)
        {
            return;
        }

        if (scratch is null || scratch.Length < text.Length)
        {
            scratch = new char[Math.Max(text.Length, 4096)];
        }

        var lowercase = normalizer.Options.Lowercase;
        var pos = 0;
        while (pos < text.Length)
        {
            var nonAscii = text[pos..].IndexOfAnyExceptInRange('\0', '\x7F');
            if (nonAscii < 0)
            {
                ScanAscii(text[pos..], scratch, lowercase, ref sink);
                return;
            }

            // The chunk around the first non-ASCII character runs between ASCII whitespace (as in the normaliser).
            var at = pos + nonAscii;
            var chunkStart = text[pos..at].LastIndexOfAny(AsciiWhitespace) + 1 + pos;
            var after = text[at..].IndexOfAny(AsciiWhitespace);
            var chunkEnd = after < 0 ? text.Length : at + after;
            if (chunkStart > pos)
            {
                ScanAscii(text[pos..chunkStart], scratch, lowercase, ref sink);
            }

            var normalized = normalizer.NormalizeChunk(new string(text[chunkStart..chunkEnd]));
            var p = 0;
            while (BertPreTokenizer.NextWord(normalized, ref p, out var start, out var length))
            {
                var word = normalized.AsSpan(start, length);
                sink.OnWord(word, WordHash.Of(word));
            }

            pos = chunkEnd;
        }
    }

    /// <summary>ASCII only: what NormalizeAscii + NextWord do, fused.</summary>
    private static void ScanAscii<TSink>(ReadOnlySpan<char> text, char[] buffer, bool lowercase, ref TSink sink)
        where TSink : struct, IWordSink
    {
        var classes = Classes;
        var h = WordHash.Seed;
        var n = 0;
        foreach (var ch in text)
        {
            var c = ch;
            switch (classes[c])
            {
                case WordChar:
                    buffer[n++] = c;
                    h = WordHash.Step(h, c);
                    break;
                case Upper:
                    if (lowercase)
                    {
                        c = (char)(c | 0x20);
                    }

                    buffer[n++] = c;
                    h = WordHash.Step(h, c);
                    break;
                case Space:
                    if (n > 0)
                    {
                        sink.OnWord(buffer.AsSpan(0, n), WordHash.Finish(h));
                        n = 0;
                        h = WordHash.Seed;
                    }

                    break;
                case Punct:
                    if (n > 0)
                    {
                        sink.OnWord(buffer.AsSpan(0, n), WordHash.Finish(h));
                        h = WordHash.Seed;
                    }

                    buffer[0] = c;
                    n = 0;
                    sink.OnWord(buffer.AsSpan(0, 1), WordHash.Finish(WordHash.Step(WordHash.Seed, c)));
                    break;
                default:
                    break; // control characters vanish without splitting the word
            }
        }

        if (n > 0)
        {
            sink.OnWord(buffer.AsSpan(0, n), WordHash.Finish(h));
        }
    }

    private static byte[] BuildClasses()
    {
        var classes = new byte[128];
        for (var c = 0; c < 128; c++)
        {
            classes[c] = c switch
            {
                ' ' or '\t' or '\n' or '\r' => Space,
                < 32 or 127 => Control,
                >= 'A' and <= 'Z' => Upper,
                _ when BertPreTokenizer.IsAsciiPunctuation((char)c) => Punct,
                _ => WordChar,
            };
        }

        return classes;
    }
}

/// <summary>The word hash shared by the scanner, the vocabulary counts and the encoder's cache: FNV-1a 32 over the UTF-16 code units, finished with a multiply-shift mix.</summary>
public static class WordHash
{
    public const uint Seed = 2166136261u;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static uint Step(uint h, char c) => (h ^ c) * 16777619u;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int Finish(uint h)
    {
        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        return (int)(h & 0x7FFFFFFF);
    }

    public static int Of(ReadOnlySpan<char> word)
    {
        var h = Seed;
        foreach (var c in word)
        {
            h = Step(h, c);
        }

        return Finish(h);
    }
}
