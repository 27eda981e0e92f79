using System.Globalization;
using System.Text;

namespace Pipeline.Core.Text;

/// <summary>
/// Applies a <see cref="TextNormalization"/>: NFKC, lower-case, accent stripping, control characters removed and
/// every run of whitespace (including \n \t \r) turned into one space. The output never contains a character that
/// Microsoft.ML.Tokenizers would merge words across, which avoids the BertTokenizer newline pitfall (PLATFORM.md).
/// Thread-safe and allocation-light on ASCII input (the common case).
/// </summary>
public sealed class TextNormalizer(TextNormalization options)
{
    public TextNormalization Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    public static TextNormalizer Default { get; } = new(TextNormalization.Default);

    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return string.Empty;
        }

        if (System.Text.Ascii.IsValid(text))
        {
            return NormalizeAscii(text, Options.Lowercase);
        }

        char[]? scratch = null;
        var normalized = Normalize(text.AsSpan(), ref scratch);
        return normalized.SequenceEqual(text) ? text : new string(normalized);
    }

    /// <summary>
    /// <see cref="Normalize(string)"/> into <paramref name="scratch"/> (grown as needed, reusable by the caller), without
    /// allocating on ASCII. Text is processed in chunks between ASCII whitespace: an ASCII chunk takes the one-pass
    /// byte-wise path (NFKC and accent stripping are identity on ASCII); a chunk holding any non-ASCII character takes
    /// the full path (NFKC, lower-case, accent stripping, control removal) on that chunk alone. Chunk by chunk equals
    /// the whole text at once: U+0020 and \t \n \r are starters that never compose or reorder with their neighbours,
    /// lower-casing and mark stripping are per character, and whitespace runs collapse the same way.
    /// </summary>
    public ReadOnlySpan<char> Normalize(ReadOnlySpan<char> text, ref char[]? scratch)
    {
        if (text.IsEmpty)
        {
            return default;
        }

        if (scratch is null || scratch.Length < text.Length + 16)
        {
            scratch = new char[Math.Max(text.Length + 16, 4096)];
        }

        var buffer = scratch;
        var lowercase = Options.Lowercase;
        var n = 0;
        var pending = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                pending = n > 0;
                i++;
                continue;
            }

            int chunkStart = i, outStart = n;
            var chunkPending = pending;
            var ascii = true;
            while (i < text.Length)
            {
                c = text[i];
                if (c >= 128)
                {
                    ascii = false;
                    break;
                }

                if (c is ' ' or '\t' or '\n' or '\r')
                {
                    break;
                }

                i++;
                if (c < 32 || c == 127)
                {
                    continue;
                }

                if (pending)
                {
                    buffer[n++] = ' ';
                    pending = false;
                }

                buffer[n++] = lowercase && (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;
            }

            if (ascii)
            {
                continue;
            }

            n = outStart;
            pending = chunkPending;
            var end = i;
            while (end < text.Length && text[end] is not (' ' or '\t' or '\n' or '\r'))
            {
                end++;
            }

            var chunk = NormalizeFull(new string(text[chunkStart..end]));
            i = end;
            if (chunk.Length == 0)
            {
                continue;
            }

            var need = n + 1 + chunk.Length + (text.Length - end);
            if (need > buffer.Length)
            {
                Array.Resize(ref buffer, Math.Max(need, buffer.Length * 2));
                scratch = buffer;
            }

            if (pending)
            {
                buffer[n++] = ' ';
                pending = false;
            }

            chunk.CopyTo(buffer.AsSpan(n));
            n += chunk.Length;
        }

        return buffer.AsSpan(0, n);
    }

    /// <summary>The full path on one whitespace-delimited chunk (for <see cref="WordScanner"/>).</summary>
    internal string NormalizeChunk(string s) => NormalizeFull(s);

    private Latin1Chars? _latin1;

    /// <summary>What the full path does to each character below U+0100 under these options (for <see cref="WordScanner"/>).</summary>
    internal Latin1Chars Latin1 => _latin1 ??= Latin1Chars.Build(this);

    /// <summary>The full path for text with non-ASCII characters.</summary>
    private string NormalizeFull(string s)
    {
        s = RemoveLoneSurrogates(s);
        if (Options.Nfkc && !s.IsNormalized(NormalizationForm.FormKC))
        {
            s = s.Normalize(NormalizationForm.FormKC);
        }

        if (Options.Lowercase)
        {
            s = s.ToLowerInvariant();
        }

        if (Options.StripAccents)
        {
            s = StripMarks(s);
        }

        return CleanWhitespaceAndControls(s);
    }

    /// <summary>HF BERT's whitespace: ' ', \t \n \r and every Unicode separator (Zs, Zl, Zp).</summary>
    public static bool IsWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r' || (c > 127 && char.IsWhiteSpace(c));

    /// <summary>
    /// HF BERT's control characters (removed): Cc and Cf except the whitespace ones, U+FFFD and NUL. Zero-width
    /// characters and soft hyphens are Cf, so they vanish as in HF.
    /// </summary>
    public static bool IsControl(char c)
    {
        if (c is '\t' or '\n' or '\r')
        {
            return false;
        }

        if (c < 32 || c == 127 || c == '\uFFFD')
        {
            return true;
        }

        if (c < 128)
        {
            return false;
        }

        var cat = char.GetUnicodeCategory(c);
        return cat is UnicodeCategory.Control or UnicodeCategory.Format;
    }

    /// <summary>The common case in one pass: lower-case, whitespace runs to one space, controls removed.</summary>
    private static string NormalizeAscii(string s, bool lowercase)
    {
        var rented = s.Length > 4096 ? System.Buffers.ArrayPool<char>.Shared.Rent(s.Length) : null;
        var buffer = rented is null ? stackalloc char[s.Length] : rented.AsSpan(0, s.Length);
        try
        {
            var n = NormalizeAsciiInto(s, buffer, lowercase);
            return n == s.Length && buffer[..n].SequenceEqual(s) ? s : new string(buffer[..n]);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static int NormalizeAsciiInto(ReadOnlySpan<char> s, Span<char> buffer, bool lowercase)
    {
        var n = 0;
        var pendingSpace = false;
        foreach (var c in s)
        {
            if (c <= ' ' || c == 127)
            {
                if (c is ' ' or '\t' or '\n' or '\r')
                {
                    pendingSpace = n > 0;
                }

                continue;
            }

            if (pendingSpace)
            {
                buffer[n++] = ' ';
                pendingSpace = false;
            }

            buffer[n++] = lowercase && (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;
        }

        return n;
    }

    private static string CleanWhitespaceAndControls(string s)
    {
        if (s.Length == 0)
        {
            // e.g. a text of combining marks only, emptied by StripAccents.
            return s;
        }

        // Fast check: already clean (single spaces, no controls, no leading/trailing space).
        var clean = s[0] != ' ' && s[^1] != ' ';
        for (var i = 0; clean && i < s.Length; i++)
        {
            var c = s[i];
            if (c == ' ')
            {
                clean = s[i - 1] != ' ';
            }
            else if (c < 32 || c == 127 || (c > 127 && (IsWhitespace(c) || IsControl(c))))
            {
                clean = false;
            }
        }

        if (clean)
        {
            return s;
        }

        var buffer = s.Length <= 1024 ? stackalloc char[s.Length] : new char[s.Length];
        var n = 0;
        var pendingSpace = false;
        foreach (var c in s)
        {
            if (IsWhitespace(c) || (c > 127 && char.IsWhiteSpace(c)))
            {
                pendingSpace = n > 0;
                continue;
            }

            if (IsControl(c))
            {
                continue;
            }

            if (pendingSpace)
            {
                buffer[n++] = ' ';
                pendingSpace = false;
            }

            buffer[n++] = c;
        }

        return new string(buffer[..n]);
    }

    private static string StripMarks(string s)
    {
        var d = s.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(d.Length);
        foreach (var c in d)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    private static string RemoveLoneSurrogates(string s)
    {
        var ok = true;
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                ok = false;
                break;
            }
        }

        if (ok)
        {
            return s;
        }

        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                sb.Append(s[i]).Append(s[i + 1]);
                i++;
            }
            else if (!char.IsSurrogate(s[i]))
            {
                sb.Append(s[i]);
            }
        }

        return sb.ToString();
    }
}
