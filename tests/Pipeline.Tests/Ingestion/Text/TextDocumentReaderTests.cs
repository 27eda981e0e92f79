using System.IO.Compression;
using System.Text;
using Pipeline.Ingestion.Quarantine;
using Pipeline.Ingestion.Text;

namespace Pipeline.Tests.Ingestion.Text;

public class TextDocumentReaderTests
{
    private static (List<string> Docs, TextReadStats Stats) Read(byte[] bytes, TextFormat format = TextFormat.PlainText, bool gzip = false, TextReadOptions? options = null)
    {
        var stats = new TextReadStats();
        var docs = TextDocumentReader.Read(new MemoryStream(bytes), format, gzip, options ?? new TextReadOptions(), stats).ToList();
        return (docs, stats);
    }

    [Fact]
    public void Paragraphs_are_documents_with_bom_and_crlf_handled_and_the_raw_bytes_hashed()
    {
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("First line\r\nsame para\r\n\r\n\r\nSecond para\n")).ToArray();
        var (docs, stats) = Read(bytes);
        Assert.Equal(["First line\nsame para", "Second para"], docs);
        Assert.Equal(bytes.Length, stats.RawBytes);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), stats.Sha256);
        Assert.Equal(2, stats.Documents);
    }

    [Fact]
    public void Long_paragraphs_and_lines_are_cut_at_spaces_without_losing_text()
    {
        var words = string.Join(' ', Enumerable.Range(0, 200).Select(i => $"w{i}"));
        var (docs, _) = Read(Encoding.UTF8.GetBytes(words + "\n" + words), options: new TextReadOptions { MaxDocumentChars = 100 });
        Assert.All(docs, d => Assert.True(d.Length <= 100));
        var rejoined = string.Join(' ', docs.Select(d => d.Replace('\n', ' ').Trim()));
        Assert.Equal(words + " " + words, string.Join(' ', rejoined.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void Jsonl_reads_the_configured_field_and_counts_bad_lines_with_line_numbers()
    {
        var text = "{\"body\":\"one\"}\n\n[1,2]\n{\"body\":5}\nnot json\n{\"other\":\"x\"}\n{\"body\":\"two\"}\n";
        var (docs, stats) = Read(Encoding.UTF8.GetBytes(text), TextFormat.JsonLines, options: new TextReadOptions { JsonTextField = "body" });
        Assert.Equal(["one", "two"], docs);
        Assert.Equal(6, stats.JsonLines);
        Assert.Equal(4, stats.BadJsonLines);
        Assert.StartsWith("line 3:", stats.BadJsonLineSamples[0]);
        Assert.Contains("line 5: invalid JSON", stats.BadJsonLineSamples[2]);
    }

    [Fact]
    public void Gzip_is_inflated_and_corruption_or_bombs_are_reported_by_code()
    {
        var plain = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("hello world\n\n", 1000)));
        using var compressed = new MemoryStream();
        using (var gz = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(plain);
        }

        var gzBytes = compressed.ToArray();
        Assert.Equal(1000, Read(gzBytes, gzip: true).Docs.Count);

        var corrupt = gzBytes.ToArray();
        corrupt[gzBytes.Length / 2] ^= 0xFF;
        corrupt[(gzBytes.Length / 2) + 1] ^= 0xFF;
        var e1 = Assert.Throws<TextContentException>(() => Read(corrupt[..(gzBytes.Length - 8)], gzip: true));
        Assert.Equal(QuarantineCodes.CorruptGzip, e1.Code);

        var e2 = Assert.Throws<TextContentException>(() => Read(gzBytes, gzip: true, options: new TextReadOptions { MaxDecompressedBytes = 1000 }));
        Assert.Equal(QuarantineCodes.TooLarge, e2.Code);
    }

    private static byte[] GzipMember(string text)
    {
        using var compressed = new MemoryStream();
        using (var gz = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(Encoding.UTF8.GetBytes(text));
        }

        return compressed.ToArray();
    }

    [Fact]
    public void Concatenated_gzip_members_are_valid_gzip_but_a_cut_or_trailing_garbage_is_corrupt()
    {
        var first = GzipMember("member one\n\n");
        var second = GzipMember(string.Concat(Enumerable.Range(0, 3000).Select(i => $"paragraph {i} of member two\n\n")));
        byte[] both = [.. first, .. second];
        var (docs, stats) = Read(both, gzip: true);
        Assert.Equal(3001, docs.Count);
        Assert.Equal("member one", docs[0]);
        Assert.Equal("paragraph 2999 of member two", docs[^1]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(both)), stats.Sha256);

        // .NET's GZipStream ends silently on a truncated member; every cut must still be caught.
        foreach (var cut in new[] { 1, 4, 8, 9, second.Length / 2, second.Length - 12 })
        {
            var e = Assert.Throws<TextContentException>(() => Read(both[..^cut], gzip: true));
            Assert.Equal(QuarantineCodes.CorruptGzip, e.Code);
        }

        Assert.Equal(QuarantineCodes.CorruptGzip, Assert.Throws<TextContentException>(() => Read([.. both, 1, 2, 3], gzip: true)).Code);
        var badCrc = both.ToArray();
        badCrc[^6] ^= 0x01;
        Assert.Equal(QuarantineCodes.CorruptGzip, Assert.Throws<TextContentException>(() => Read(badCrc, gzip: true)).Code);
    }

    [Fact]
    public void Line_oriented_txt_is_one_document_per_line_prose_and_markdown_are_paragraphs()
    {
        // A glossary without blank lines (as WordNet's glosses): each line a document, not 32K-character blocks.
        var glossary = string.Concat(Enumerable.Range(0, 1500).Select(i => $"gloss number {i} of the glossary\n"));
        var (lines, _) = Read(Encoding.UTF8.GetBytes(glossary));
        Assert.Equal(1500, lines.Count);
        Assert.Equal("gloss number 1499 of the glossary", lines[^1]);

        // One blank line in the first AutoDetectLines lines: paragraphs.
        var prose = "first paragraph line one\nline two\n\nsecond paragraph\n" + string.Concat(glossary.Split('\n').Take(200).Select(l => l + "\n"));
        var (paragraphs, _) = Read(Encoding.UTF8.GetBytes(prose));
        Assert.Equal(2, paragraphs.Count);
        Assert.Equal("first paragraph line one\nline two", paragraphs[0]);
        Assert.StartsWith("second paragraph\ngloss number 0", paragraphs[1]);

        // Markdown is always paragraphs; the rule can be forced either way.
        Assert.Single(Read(Encoding.UTF8.GetBytes("a\nb\nc\n"), TextFormat.Markdown).Docs);
        Assert.Single(Read(Encoding.UTF8.GetBytes("a\nb\nc\n"), options: new TextReadOptions { TxtDocuments = TextDocumentSplit.Paragraphs }).Docs);
        Assert.Equal(["a", "b", "c"], Read(Encoding.UTF8.GetBytes("a\n\nb\nc\n"), options: new TextReadOptions { TxtDocuments = TextDocumentSplit.Lines }).Docs);
    }

    [Fact]
    public void Nul_bytes_and_mostly_invalid_utf8_are_binary_but_a_few_bad_bytes_are_counted()
    {
        Assert.Equal(QuarantineCodes.Binary, Assert.Throws<TextContentException>(() => Read([0x68, 0x69, 0x00, 0x21])).Code);
        var random = new byte[4096];
        new Random(1).NextBytes(random);
        random = [.. random.Select(b => b == 0 ? (byte)0xFF : b)];
        Assert.Equal(QuarantineCodes.Binary, Assert.Throws<TextContentException>(() => Read(random)).Code);

        var mostlyText = Encoding.UTF8.GetBytes(new string('a', 1000) + "x" + new string('b', 1000));
        mostlyText[1000] = 0xFF; // one invalid byte
        var (docs, stats) = Read(mostlyText);
        Assert.Single(docs);
        Assert.Equal(1, stats.ReplacementChars);
    }

    [Fact]
    public void A_file_without_line_breaks_is_read_in_bounded_pieces()
    {
        var huge = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("abc def ", 40_000)));
        var (docs, stats) = Read(huge, options: new TextReadOptions { MaxLineChars = 10_000, MaxDocumentChars = 5_000 });
        Assert.True(stats.Lines >= 32);
        Assert.All(docs, d => Assert.True(d.Length <= 5_000));
        Assert.Equal(6 * 40_000, docs.Sum(d => d.Count(char.IsLetter)));
    }

    /// <summary>The split hash is FNV-1a 64 over each character's two bytes (low, high), whatever shortcut computes it.</summary>
    [Fact]
    public void Document_hash_is_fnv1a_over_utf16_bytes()
    {
        static ulong Reference(string text)
        {
            var h = 14695981039346656037UL;
            foreach (var b in System.Text.Encoding.Unicode.GetBytes(text))
            {
                h = (h ^ b) * 1099511628211UL;
            }

            return h;
        }

        var rng = new Random(3);
        string[] samples = ["", "a", "Hello, World", "caf\u00e9 \u00ff\u0100", "\u4e2d\u6587 \ud83d\ude00", "(\u00b612)"];
        foreach (var text in samples.Concat(Enumerable.Range(0, 200).Select(_ => new string([.. Enumerable.Range(0, rng.Next(0, 40)).Select(_ => (char)(rng.Next(3) == 0 ? rng.Next(0, 0x3000) : rng.Next(32, 127)))]))))
        {
            Assert.Equal(Reference(text), TextIngestion.DocumentHash(text));
        }

        // Two at a time (the seal's encode pass): the same hashes, whichever is longer and wherever non-Latin-1 falls.
        var texts = samples.Concat(Enumerable.Range(0, 300).Select(_ => new string([.. Enumerable.Range(0, rng.Next(0, 60)).Select(_ => (char)(rng.Next(4) == 0 ? rng.Next(0, 0x3000) : rng.Next(32, 256)))]))).ToArray();
        for (var i = 0; i + 1 < texts.Length; i++)
        {
            Assert.Equal((Reference(texts[i]), Reference(texts[i + 1])), TextIngestion.DocumentHashes(texts[i], texts[i + 1]));
        }
    }
}
