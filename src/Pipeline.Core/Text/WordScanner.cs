using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
/// word of its own); a whitespace-delimited chunk holding other characters below U+0100 that each normalise to at most
/// one character ("(¶12)", "café") goes character by character through <see cref="Latin1Chars"/>, any other chunk is
/// normalised whole by the full path and split with NextWord, which is what the normaliser does chunk by chunk. Vocabulary counting and encoding both
/// scan through here, so they see the same words.
/// </summary>
public static class WordScanner
{
    internal const byte WordChar = 0;
    internal const byte Upper = 1;
    internal const byte Control = 2;
    internal const byte Space = 4;
    internal const byte Punct = 8;

    /// <summary>The normaliser's ASCII rule, one class per character below 128 (Latin1Chars builds on it too).</summary>
    internal static readonly byte[] Classes = BuildClasses();
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

            var chunk = text[chunkStart..chunkEnd];
            if (!ScanLatin1(normalizer.Latin1, chunk, scratch, ref sink))
            {
                var normalized = normalizer.NormalizeChunk(new string(chunk));
                var p = 0;
                while (BertPreTokenizer.NextWord(normalized, ref p, out var start, out var length))
                {
                    var word = normalized.AsSpan(start, length);
                    sink.OnWord(word, WordHash.Of(word));
                }
            }

            pos = chunkEnd;
        }
    }

    /// <summary>
    /// ASCII only: what NormalizeAscii + NextWord do, fused. A word is a run of word, upper-case and control characters;
    /// one with neither upper-case nor control characters (most) is passed as a slice of the text itself, the others
    /// are lower-cased / stripped into <paramref name="buffer"/>. The hash is taken over the finished word.
    /// </summary>
    private static void ScanAscii<TSink>(ReadOnlySpan<char> text, char[] buffer, bool lowercase, ref TSink sink)
        where TSink : struct, IWordSink
    {
        ref var classes = ref MemoryMarshal.GetArrayDataReference(Classes);
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            var cls = Unsafe.Add(ref classes, c);
            if (cls == Space)
            {
                i++;
                continue;
            }

            if (cls == Punct)
            {
                var one = text.Slice(i, 1);
                sink.OnWord(one, WordHash.Of(one));
                i++;
                continue;
            }

            // A word: WordChar, Upper or Control characters up to the next space or punctuation.
            var start = i;
            var flags = cls;
            i++;
            while (i < text.Length)
            {
                cls = Unsafe.Add(ref classes, text[i]);
                if (cls is Space or Punct)
                {
                    break;
                }

                flags |= cls;
                i++;
            }

            var word = text[start..i];
            if (flags != WordChar && (flags != Upper || lowercase))
            {
                var n = 0;
                foreach (var ch in word)
                {
                    var k = Unsafe.Add(ref classes, ch);
                    if (k == Control)
                    {
                        continue; // control characters vanish without splitting the word
                    }

                    buffer[n++] = k == Upper && lowercase ? (char)(ch | 0x20) : ch;
                }

                if (n == 0)
                {
                    continue;
                }

                word = buffer.AsSpan(0, n);
            }

            sink.OnWord(word, WordHash.Of(word));
        }
    }

    /// <summary>
    /// A chunk whose characters are all below U+0100 and each normalise on their own to at most one character
    /// (<see cref="Latin1Chars"/>: "(¶12)", "café", "naïve"), character by character as the full path would do it;
    /// false (nothing emitted) when some character needs the full path.
    /// </summary>
    private static bool ScanLatin1<TSink>(Latin1Chars latin1, ReadOnlySpan<char> chunk, char[] buffer, ref TSink sink)
        where TSink : struct, IWordSink
    {
        var classes = latin1.Classes;
        foreach (var c in chunk)
        {
            if (c > 0xFF || classes[c] == Latin1Chars.Slow)
            {
                return false;
            }
        }

        var map = latin1.Map;
        var n = 0;
        foreach (var c in chunk)
        {
            switch (classes[c])
            {
                case Latin1Chars.Word:
                    buffer[n++] = map[c];
                    break;
                case Latin1Chars.Control:
                    break; // vanishes without splitting the word
                case Latin1Chars.Space:
                    Flush(buffer, ref n, ref sink);
                    break;
                default: // Punct: a word of its own
                    Flush(buffer, ref n, ref sink);
                    buffer[0] = map[c];
                    var one = buffer.AsSpan(0, 1);
                    sink.OnWord(one, WordHash.Of(one));
                    break;
            }
        }

        Flush(buffer, ref n, ref sink);
        return true;

        static void Flush(char[] buffer, ref int n, ref TSink sink)
        {
            if (n > 0)
            {
                var word = buffer.AsSpan(0, n);
                sink.OnWord(word, WordHash.Of(word));
                n = 0;
            }
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

/// <summary>
/// The word hash shared by the scanner, the vocabulary counts and the encoder's word memos (in-process only: it picks
/// table slots and never decides an id or a count): the UTF-16 code units read 4 at a time (8 bytes, a multiply and a
/// rotate each), the length mixed in, finished with a multiply-shift mix; non-negative.
/// </summary>
public static class WordHash
{
    private const ulong K1 = 0x9E3779B97F4A7C15UL;
    private const ulong K2 = 0xC2B2AE3D27D4EB4FUL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Of(ReadOnlySpan<char> word)
    {
        ref var p = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(word));
        var bytes = word.Length * 2;
        var h = (ulong)bytes * K2;
        var at = 0;
        for (; at + 8 <= bytes; at += 8)
        {
            h = ulong.RotateLeft((h ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, at))) * K1, 29);
        }

        var rest = bytes - at;
        if (rest > 0)
        {
            // 2, 4 or 6 bytes left: one or two reads covering them (overlapping when 6), zero-extended.
            var tail = rest >= 4
                ? Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, at)) | ((ulong)Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, bytes - 4)) << 32)
                : Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, at));
            h = ulong.RotateLeft((h ^ tail) * K1, 29);
        }

        h ^= h >> 32;
        h *= K2;
        h ^= h >> 29;
        return (int)(h & 0x7FFFFFFF);
    }
}
