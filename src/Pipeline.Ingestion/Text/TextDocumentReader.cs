using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Pipeline.Ingestion.Quarantine;

namespace Pipeline.Ingestion.Text;

/// <summary>How uploads are read into documents.</summary>
public sealed record TextReadOptions
{
    /// <summary>The string field holding the text in each .jsonl object.</summary>
    public string JsonTextField { get; init; } = "text";

    /// <summary>A paragraph longer than this is cut (at a line or space) into several documents.</summary>
    public int MaxDocumentChars { get; init; } = 32_768;

    /// <summary>A .gz that inflates beyond this is refused as too large (decompression bomb guard).</summary>
    public long MaxDecompressedBytes { get; init; } = 16L * 1024 * 1024 * 1024;

    /// <summary>More invalid UTF-8 (U+FFFD) than this fraction of the characters makes the upload "binary".</summary>
    public double MaxInvalidUtf8Fraction { get; init; } = 0.05;

    /// <summary>Lines longer than this are cut into pieces so a file without line breaks never fills memory.</summary>
    public int MaxLineChars { get; init; } = 1 << 20;

    /// <summary>How a .txt upload is cut into documents (.md is always paragraphs, .jsonl one object per line).</summary>
    public TextDocumentSplit TxtDocuments { get; init; } = TextDocumentSplit.Auto;

    /// <summary>Auto looks at this many first lines: no blank line among them (and at least 2 lines) means one document per line.</summary>
    public int AutoDetectLines { get; init; } = 1_000;
}

/// <summary>
/// Document rules for plain text. Paragraphs: blank-line-separated paragraphs (prose, dictionaries, books); a paragraph
/// longer than MaxDocumentChars is cut at a line or space. Lines: every non-blank line is a document (glossaries, one
/// sentence or record per line). Auto: Lines when the file's first AutoDetectLines lines hold no blank line at all,
/// otherwise Paragraphs; a line-oriented file without blank lines would otherwise become a few 32K-character blocks
/// of unrelated lines.
/// </summary>
public enum TextDocumentSplit
{
    Auto,
    Paragraphs,
    Lines,
}

/// <summary>What a pass over one upload saw; bad input is counted here, never dropped silently.</summary>
public sealed class TextReadStats
{
    public const int MaxReportedLines = 20;

    public long RawBytes { get; internal set; }

    public long DecodedChars { get; internal set; }

    public long Lines { get; internal set; }

    public long Documents { get; internal set; }

    public long NulChars { get; internal set; }

    /// <summary>U+FFFD in the decoded text: invalid UTF-8 sequences (and any literal U+FFFD).</summary>
    public long ReplacementChars { get; internal set; }

    public long JsonLines { get; internal set; }

    public long BadJsonLines { get; internal set; }

    /// <summary>1-based line numbers and errors of the first bad .jsonl lines.</summary>
    public List<string> BadJsonLineSamples { get; } = [];

    /// <summary>Lowercase hex sha256 of the raw (still compressed) bytes, once the stream was read to the end.</summary>
    public string? Sha256 { get; internal set; }
}

/// <summary>Input the readers cannot use at all; carries the quarantine code.</summary>
public sealed class TextContentException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>
/// Streams documents out of one upload without holding it in memory: .txt/.md paragraphs (blank-line separated) or
/// one .jsonl object's text field per line; gzip inflated on the fly; UTF-8 with or without BOM (a UTF-16 BOM is
/// honoured too). Invalid UTF-8 becomes U+FFFD (counted; the normaliser removes it).
/// </summary>
public static class TextDocumentReader
{
    /// <param name="hashContent">
    /// False when the caller knows the bytes are those already hashed (the seal reading an upload whose ETag is the one
    /// accepted): <see cref="TextReadStats.Sha256"/> then stays null.
    /// </param>
    public static IEnumerable<string> Read(Stream raw, TextFormat format, bool gzip, TextReadOptions options, TextReadStats stats, bool hashContent = true)
    {
        var hashing = new HashingStream(raw, stats, hashContent);
        Stream decoded = hashing;
        if (gzip)
        {
            // A sentinel gzip member follows the blob's bytes: .NET's GZipStream reads concatenated members (valid gzip,
            // e.g. `cat a.gz b.gz`) and checks each member's CRC-32 and size, but ends silently on a truncated member.
            // Only a blob whose last member is complete lets the sentinel decode as a member of its own.
            decoded = new GuardedGzipStream(
                new GZipStream(new ConcatStream(hashing, new MemoryStream(GuardedGzipStream.SentinelMember, writable: false)), CompressionMode.Decompress),
                options.MaxDecompressedBytes);
        }

        using var streamReader = new StreamReader(decoded, new UTF8Encoding(false, false), detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024);
        var reader = new LineReader(streamReader, options, stats);
        var documents = format == TextFormat.JsonLines ? ReadJsonLines(reader, options, stats)
            : ChooseSplit(reader, format, options) == TextDocumentSplit.Lines ? ReadLines(reader, options)
            : ReadParagraphs(reader, options, stats);
        foreach (var document in documents)
        {
            stats.Documents++;
            yield return document;
        }

        // Drain what the reader did not need (trailing bytes) so the hash covers the whole blob.
        hashing.DrainAndFinish();
        CheckInvalidFraction(stats, options);
    }

    private static TextDocumentSplit ChooseSplit(LineReader reader, TextFormat format, TextReadOptions options)
    {
        if (format == TextFormat.Markdown)
        {
            return TextDocumentSplit.Paragraphs;
        }

        if (options.TxtDocuments != TextDocumentSplit.Auto)
        {
            return options.TxtDocuments;
        }

        // Read ahead (the lines are replayed): a blank line anywhere in the prefix means paragraphs.
        var lines = reader.Lookahead(options.AutoDetectLines);
        return lines.Count >= 2 && !lines.Any(string.IsNullOrWhiteSpace) ? TextDocumentSplit.Lines : TextDocumentSplit.Paragraphs;
    }

    private static IEnumerable<string> ReadLines(LineReader reader, TextReadOptions options)
    {
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var rest = line.AsMemory();
            while (rest.Length > options.MaxDocumentChars)
            {
                var cut = rest.Span[..options.MaxDocumentChars].LastIndexOf(' ');
                cut = cut <= 0 ? options.MaxDocumentChars : cut;
                yield return rest[..cut].ToString();
                rest = rest[cut..];
            }

            yield return rest.Length == line.Length ? line : rest.ToString();
        }
    }

    private static IEnumerable<string> ReadParagraphs(LineReader reader, TextReadOptions options, TextReadStats stats)
    {
        // The paragraph so far is `single` when it is one piece of one line (most paragraphs of prose are one long
        // line): that string is the document as is, never copied through the builder.
        var current = new StringBuilder();
        string? single = null;
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                if (single is not null)
                {
                    yield return single;
                    single = null;
                }
                else if (current.Length > 0)
                {
                    yield return current.ToString();
                    current.Clear();
                }

                continue;
            }

            var length = single?.Length ?? current.Length;
            if (length > 0 && length + 1 + line.Length > options.MaxDocumentChars)
            {
                if (single is not null)
                {
                    yield return single;
                    single = null;
                }
                else
                {
                    yield return current.ToString();
                    current.Clear();
                }
            }

            var rest = line.AsMemory();
            while (rest.Length > options.MaxDocumentChars)
            {
                var cut = rest.Span[..options.MaxDocumentChars].LastIndexOf(' ');
                cut = cut <= 0 ? options.MaxDocumentChars : cut;
                yield return rest[..cut].ToString();
                rest = rest[cut..];
            }

            if (single is null && current.Length == 0)
            {
                single = rest.Length == line.Length ? line : rest.ToString();
                continue;
            }

            if (single is not null)
            {
                current.Append(single);
                single = null;
            }

            current.Append('\n');
            current.Append(rest.Span);
        }

        if (single is not null)
        {
            yield return single;
        }
        else if (current.Length > 0)
        {
            yield return current.ToString();
        }
    }

    private static IEnumerable<string> ReadJsonLines(LineReader reader, TextReadOptions options, TextReadStats stats)
    {
        var field = options.JsonTextField;
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            stats.JsonLines++;
            string? text = null;
            string? error = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    error = $"not a JSON object ({doc.RootElement.ValueKind})";
                }
                else if (!doc.RootElement.TryGetProperty(field, out var value))
                {
                    error = $"no \"{field}\" field";
                }
                else if (value.ValueKind != JsonValueKind.String)
                {
                    error = $"\"{field}\" is {value.ValueKind}, not a string";
                }
                else
                {
                    text = value.GetString();
                }
            }
            catch (JsonException e)
            {
                error = "invalid JSON: " + e.Message;
            }

            if (error is not null)
            {
                stats.BadJsonLines++;
                if (stats.BadJsonLineSamples.Count < TextReadStats.MaxReportedLines)
                {
                    stats.BadJsonLineSamples.Add($"line {stats.Lines}: {error}");
                }

                continue;
            }

            if (!string.IsNullOrWhiteSpace(text))
            {
                yield return text.Length > options.MaxDocumentChars ? text[..options.MaxDocumentChars] : text;
            }
        }
    }

    /// <summary>
    /// Lines split on \n (a trailing \r dropped), at most MaxLineChars each; counts NUL and U+FFFD and stops at the
    /// first NUL or once the first 64K characters are mostly invalid UTF-8, so binary uploads are rejected early.
    /// </summary>
    private sealed class LineReader(StreamReader reader, TextReadOptions options, TextReadStats stats)
    {
        private readonly char[] _buffer = new char[64 * 1024];
        private readonly StringBuilder _line = new();
        private int _pos;
        private int _len;
        private bool _checkedPrefix;
        private readonly Queue<string> _replay = new();

        /// <summary>Reads up to <paramref name="count"/> lines ahead; ReadLine returns them again first.</summary>
        public IReadOnlyCollection<string> Lookahead(int count)
        {
            while (_replay.Count < count && ReadFresh() is { } line)
            {
                _replay.Enqueue(line);
            }

            return _replay;
        }

        public string? ReadLine() => _replay.TryDequeue(out var line) ? line : ReadFresh();

        private string? ReadFresh()
        {
            _line.Clear();
            if (_pos < _len)
            {
                // The whole line in the buffer (the common case): one string straight from it, no builder copy.
                var buffered = _buffer.AsSpan(_pos, _len - _pos);
                var end = buffered.IndexOf('\n');
                if (end >= 0 && end <= options.MaxLineChars)
                {
                    _pos += end + 1;
                    var line = buffered[..end];
                    if (line.Length > 0 && line[^1] == '\r')
                    {
                        line = line[..^1];
                    }

                    stats.Lines++;
                    return new string(line);
                }
            }

            while (true)
            {
                if (_pos == _len)
                {
                    _len = Fill();
                    _pos = 0;
                    if (_len == 0)
                    {
                        return _line.Length > 0 ? Finish() : null;
                    }
                }

                var span = _buffer.AsSpan(_pos, _len - _pos);
                var newline = span.IndexOf('\n');
                var room = options.MaxLineChars - _line.Length;
                if (newline >= 0 && newline <= room)
                {
                    _line.Append(span[..newline]);
                    _pos += newline + 1;
                    return Finish();
                }

                if (span.Length >= room)
                {
                    _line.Append(span[..room]);
                    _pos += room;
                    return Finish();
                }

                _line.Append(span);
                _pos = _len;
            }
        }

        private string Finish()
        {
            if (_line.Length > 0 && _line[^1] == '\r')
            {
                _line.Length--;
            }

            stats.Lines++;
            return _line.ToString();
        }

        private int Fill()
        {
            int n;
            try
            {
                n = reader.Read(_buffer, 0, _buffer.Length);
            }
            catch (InvalidDataException e)
            {
                throw new TextContentException(QuarantineCodes.CorruptGzip, $"The gzip stream is corrupt or truncated ({e.Message}); re-compress the file.");
            }

            var chunk = _buffer.AsSpan(0, n);
            stats.DecodedChars += n;
            if (chunk.ContainsAnyExcept(PrintableAsciiAndWhitespace))
            {
                var nul = chunk.Count('\0');
                stats.NulChars += nul;
                stats.ReplacementChars += chunk.Count('\uFFFD');
                if (nul > 0)
                {
                    throw new TextContentException(QuarantineCodes.Binary, $"The file contains NUL bytes (binary, or UTF-16 without a BOM); upload UTF-8 text.");
                }
            }

            if (!_checkedPrefix && (stats.DecodedChars >= 65_536 || n == 0))
            {
                _checkedPrefix = true;
                CheckInvalidFraction(stats, options);
            }

            return n;
        }
    }

    /// <summary>Throws "binary" when more than MaxInvalidUtf8Fraction of the characters so far were invalid UTF-8.</summary>
    public static void CheckInvalidFraction(TextReadStats stats, TextReadOptions options)
    {
        if (stats.DecodedChars > 0 && stats.ReplacementChars > options.MaxInvalidUtf8Fraction * stats.DecodedChars)
        {
            throw new TextContentException(QuarantineCodes.Binary,
                $"{stats.ReplacementChars} of {stats.DecodedChars} characters are not valid UTF-8 (over {options.MaxInvalidUtf8Fraction:P0}); upload UTF-8 text.");
        }
    }

    private static readonly System.Buffers.SearchValues<char> PrintableAsciiAndWhitespace =
        System.Buffers.SearchValues.Create("\t\n\r" + new string([.. Enumerable.Range(32, 95).Select(i => (char)i)]));

    /// <summary>Counts and hashes the raw bytes as they are read.</summary>
    private sealed class HashingStream(Stream inner, TextReadStats stats, bool hashContent) : Stream
    {
        private readonly IncrementalHash? _hash = hashContent ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        private bool _finished;
        private readonly byte[] _tail = new byte[8];
        private string? _sha256;

        public long Count => stats.RawBytes;

        /// <summary>The last 8 bytes read (fewer at the start are zero).</summary>
        public ReadOnlySpan<byte> Tail => _tail;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => stats.RawBytes; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_finished)
            {
                return 0;
            }

            var n = inner.Read(buffer);
            _hash?.AppendData(buffer[..n]);
            stats.RawBytes += n;
            if (n >= 8)
            {
                buffer.Slice(n - 8, 8).CopyTo(_tail);
            }
            else if (n > 0)
            {
                _tail.AsSpan(n).CopyTo(_tail);
                buffer[..n].CopyTo(_tail.AsSpan(8 - n));
            }

            return n;
        }

        /// <summary>Reads the rest of the blob (bytes the decoder did not need) so the hash covers all of it.</summary>
        public void Drain()
        {
            var buffer = new byte[64 * 1024];
            while (Read(buffer) > 0)
            {
            }
        }

        public void DrainAndFinish()
        {
            Drain();
            _finished = true;
            _sha256 ??= _hash is null ? null : Convert.ToHexStringLower(_hash.GetHashAndReset());
            stats.Sha256 = _sha256;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash?.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// Inflates gzip (one or more members), turning corruption, truncation and decompression bombs into quarantine
    /// codes. The inflated stream must end with <see cref="Sentinel"/> (from the appended <see cref="SentinelMember"/>),
    /// which is held back from the reader: missing means the blob's last member was cut short or followed by garbage.
    /// </summary>
    internal sealed class GuardedGzipStream(GZipStream inner, long maxBytes) : Stream
    {
        public static readonly byte[] Sentinel = "\0Pipeline.Ingestion gzip end sentinel \u2713 7f3a9c1e\0"u8.ToArray();

        public static readonly byte[] SentinelMember = Compress(Sentinel);

        private readonly byte[] _buffer = new byte[(64 * 1024) + Sentinel.Length];
        private int _have;
        private bool _eof;
        private long _total;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _total; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }

            while (!_eof && _have <= Sentinel.Length)
            {
                int n;
                try
                {
                    n = inner.Read(_buffer.AsSpan(_have));
                }
                catch (InvalidDataException e)
                {
                    throw new TextContentException(QuarantineCodes.CorruptGzip, $"The gzip stream is corrupt or truncated ({e.Message}); re-compress the file.");
                }

                if (n == 0)
                {
                    _eof = true;
                }

                _have += n;
            }

            var available = _have - Sentinel.Length;
            if (available > 0)
            {
                var k = Math.Min(available, buffer.Length);
                _buffer.AsSpan(0, k).CopyTo(buffer);
                _buffer.AsSpan(k, _have - k).CopyTo(_buffer);
                _have -= k;
                _total += k;
                if (_total > maxBytes)
                {
                    throw new TextContentException(QuarantineCodes.TooLarge, $"The file inflates to more than {maxBytes} bytes; split it into smaller uploads.");
                }

                return k;
            }

            if (_have != Sentinel.Length || !_buffer.AsSpan(0, _have).SequenceEqual(Sentinel))
            {
                throw new TextContentException(QuarantineCodes.CorruptGzip,
                    "The gzip stream is truncated or has bytes after its last member (its last member does not end with a CRC-32/size trailer); re-compress the file.");
            }

            return 0;
        }

        private static byte[] Compress(byte[] data)
        {
            using var output = new MemoryStream();
            using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            {
                gzip.Write(data);
            }

            return output.ToArray();
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Reads one stream to its end, then another (does not dispose the first: the hashing stream is drained later).</summary>
    private sealed class ConcatStream(Stream first, Stream second) : Stream
    {
        private bool _firstDone;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (!_firstDone)
            {
                var n = first.Read(buffer);
                if (n > 0 || buffer.IsEmpty)
                {
                    return n;
                }

                _firstDone = true;
            }

            return second.Read(buffer);
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
