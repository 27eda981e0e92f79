using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Storage;
using Pipeline.Core.Text;
using Pipeline.Ingestion;
using Pipeline.Ingestion.Quarantine;
using Pipeline.Ingestion.Text;
using Pipeline.Testing;

namespace Pipeline.Tests.Ingestion.Text;

[Collection(AzuriteCollection.Name)]
public class TextIngestionTests(AzuriteFixture azurite)
{
    private static readonly string Genesis =
        "In the beginning God created the heaven and the earth.\n" +
        "And the earth was without form, and void; and darkness was upon the face of the deep.\n\n" +
        "And the Spirit of God moved upon the face of the waters.\n\n" +
        "And God said, Let there be light: and there was light.\n\n" +
        "And God saw the light, that it was good: and God divided the light from the darkness.\n\n" +
        "And God called the light Day, and the darkness he called Night.\n\n";

    private static string NewDataset() => "t" + Guid.NewGuid().ToString("N")[..10];

    private static async Task<BlobPath> UploadAsync(BlobServiceClient service, string dataset, string name, byte[] bytes)
    {
        var path = new BlobPath(BlobLayout.Unlabeled, $"{dataset}/{name}");
        await service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name).UploadAsync(BinaryData.FromBytes(bytes), overwrite: true);
        return path;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(bytes);
        }

        return output.ToArray();
    }

    [Fact]
    public async Task Every_supported_format_is_accepted_and_the_same_bytes_twice_is_a_duplicate()
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service);
        var dataset = NewDataset();
        var txt = Encoding.UTF8.GetBytes(Genesis);
        var uploads = new (string Name, byte[] Bytes)[]
        {
            ("a.txt", txt),
            ("b.md", Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("# Title\n\nSome *markdown* text.\n")).ToArray()),
            ("c.jsonl", Encoding.UTF8.GetBytes("{\"text\":\"first record\"}\n{\"text\":\"second record\",\"id\":2}\n")),
            ("d.txt.gz", Gzip(Encoding.UTF8.GetBytes("compressed text here\n"))),
            ("e.JSONL.GZ", Gzip(Encoding.UTF8.GetBytes("{\"text\":\"compressed record\"}\n"))),
            ("f-two-members.txt.gz", [.. Gzip(Encoding.UTF8.GetBytes("first member\n\n")), .. Gzip(Encoding.UTF8.GetBytes("second member\n"))]),
        };
        foreach (var (name, bytes) in uploads)
        {
            var outcome = await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, name, bytes));
            Assert.Equal(BlobIngestOutcome.Statuses.Accepted, outcome.Status);
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), outcome.ContentHash);
        }

        var again = await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "copy/of-a.txt", txt));
        Assert.Equal(BlobIngestOutcome.Statuses.Duplicate, again.Status);
        Assert.Equal($"unlabeled/{dataset}/a.txt", again.DuplicateOf);
        var repeatedEvent = await ingestion.AcceptBlobAsync(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/a.txt"));
        Assert.Equal(BlobIngestOutcome.Statuses.Accepted, repeatedEvent.Status);
    }

    public static TheoryData<string, byte[], string> BadUploads()
    {
        var random = new byte[8192];
        new Random(7).NextBytes(random);
        random = [.. random.Select(b => b == 0 ? (byte)0x80 : b)];
        var badJson = string.Concat(Enumerable.Range(0, 50).Select(i => i % 10 == 0 ? "{broken\n" : $"{{\"text\":\"line {i}\"}}\n"));
        var gz = Gzip(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("some text\n", 2000))));
        return new TheoryData<string, byte[], string>
        {
            { "empty.txt", [], QuarantineCodes.Empty },
            { "blank.txt", Encoding.UTF8.GetBytes(" \n\t\r\n  \n"), QuarantineCodes.NoContent },
            { "nul.txt", Encoding.UTF8.GetBytes("looks like text\0\0\0 but is not"), QuarantineCodes.Binary },
            { "random.md", random, QuarantineCodes.Binary },
            { "too-large.txt", Encoding.UTF8.GetBytes(new string('x', 5000)), QuarantineCodes.TooLarge },
            { "paper.pdf", Encoding.UTF8.GetBytes("%PDF-1.4 text"), QuarantineCodes.UnsupportedExtension },
            { "corrupt.txt.gz", gz[..(gz.Length / 2)], QuarantineCodes.CorruptGzip },
            { "no-trailer.txt.gz", gz[..^4], QuarantineCodes.CorruptGzip },
            { "not-gzip.txt.gz", Encoding.UTF8.GetBytes("plain text pretending to be gzip"), QuarantineCodes.CorruptGzip },
            { "bad.jsonl", Encoding.UTF8.GetBytes(badJson), QuarantineCodes.InvalidJsonLines },
        };
    }

    [Theory]
    [MemberData(nameof(BadUploads))]
    public async Task Bad_uploads_are_quarantined_with_a_reason_and_their_bytes(string name, byte[] bytes, string code)
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service, new TextIngestionOptions { MaxBlobBytes = 4096 * 4 });
        var dataset = NewDataset();
        if (code == QuarantineCodes.TooLarge)
        {
            ingestion = new TextIngestion(service, new TextIngestionOptions { MaxBlobBytes = 4096 });
        }

        var upload = await UploadAsync(service, dataset, name, bytes);
        var outcome = await ingestion.AcceptBlobAsync(upload);

        Assert.Equal(BlobIngestOutcome.Statuses.Quarantined, outcome.Status);
        Assert.Equal(code, outcome.Reason);
        var reason = await new QuarantineStore(service).ReadReasonAsync(dataset, name);
        Assert.Equal(code, reason!.Code);
        Assert.False(string.IsNullOrWhiteSpace(reason.Message));
        var kept = await service.GetBlobContainerClient(BlobLayout.Quarantine).GetBlobClient($"{dataset}/{name}").DownloadContentAsync();
        Assert.Equal(bytes, kept.Value.Content.ToArray());
        Assert.False((await service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name).ExistsAsync()).Value);

        var repeated = await ingestion.AcceptBlobAsync(upload);
        Assert.Equal((BlobIngestOutcome.Statuses.Quarantined, code), (repeated.Status, repeated.Reason));
    }

    [Fact]
    public async Task A_few_bad_jsonl_lines_are_tolerated_and_reported_not_dropped_silently()
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service, new TextIngestionOptions { MaxBadJsonLineFraction = 0.1 });
        var dataset = NewDataset();
        var lines = string.Concat(Enumerable.Range(0, 40).Select(i => i == 17 ? "{oops\n" : $"{{\"text\":\"record number {i} of the set\"}}\n"));
        var outcome = await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "mostly.jsonl", Encoding.UTF8.GetBytes(lines)));
        Assert.Equal(BlobIngestOutcome.Statuses.Accepted, outcome.Status);

        var reportPath = TextIngestion.AcceptanceReport(dataset, outcome.ContentHash);
        var report = (await service.GetBlobContainerClient(reportPath.Container).GetBlobClient(reportPath.Name).DownloadContentAsync())
            .Value.Content.ToObjectFromJson<TextAcceptanceReport>(PipelineJson.Options)!;
        Assert.Equal(1, report.BadJsonLines);
        Assert.Equal(39, report.Documents);
        Assert.StartsWith("line 18:", report.BadJsonLineSamples.Single());

        var summary = await ingestion.SealWithSummaryAsync(dataset, "v1", new TextSealOptions { Vocabulary = new WordPieceTrainerOptions { VocabSize = 120, MinFrequency = 1 } });
        Assert.Equal(1, summary.Manifest.Extra!["badJsonLines"].GetInt64());
        Assert.Equal(39, summary.Result.Items);
    }

    [Fact]
    public async Task Seal_writes_vocab_shards_and_manifest_whose_ids_match_serving_time_encoding()
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service);
        var dataset = NewDataset();
        var second = string.Concat(Enumerable.Range(0, 60).Select(i => $"Verse {i}: and the evening and the morning were the day number {i}.\n\n"));
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "genesis.txt", Encoding.UTF8.GetBytes(Genesis + Genesis))); // repeated paragraphs
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "more.md.gz", Gzip(Encoding.UTF8.GetBytes(second))));
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "bad.bin.txt", [1, 0, 2, 0]));

        var options = new TextSealOptions { Vocabulary = new WordPieceTrainerOptions { VocabSize = 200, MinFrequency = 2 }, ValidationFraction = 0.2, TokensPerShard = 300 };
        var summary = await ingestion.SealWithSummaryAsync(dataset, "v1", options);
        var manifest = summary.Manifest;

        Assert.Equal("text", manifest.Kind);
        Assert.Equal(5 + 60, manifest.Documents); // 5 Genesis paragraphs once each, 60 verses
        Assert.Equal(5, summary.DuplicateDocuments);
        Assert.Equal(1, summary.QuarantinedUploads);
        Assert.True(manifest.TrainShards.Count > 1, "small TokensPerShard gives several shards");
        Assert.NotEmpty(manifest.ValidationShards);
        Assert.Equal(manifest.Documents, summary.Result.TrainItems + summary.Result.ValidationItems);
        var normalization = manifest.Extra!["normalization"].Deserialize<TextNormalization>(PipelineJson.Options);
        Assert.Equal(TextNormalization.Default, normalization);

        var datasets = service.GetBlobContainerClient(BlobLayout.Datasets);
        var vocabBytes = (await datasets.GetBlobClient(BlobPath.Parse(manifest.Vocab!).Name).DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(manifest.VocabSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(vocabBytes)));
        var serving = WordPieceEncoder.Load(new MemoryStream(vocabBytes), normalization!);

        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var doc in Genesis.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Concat(second.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)))
        {
            expected.Add(string.Join(',', serving.EncodeToIds(doc)));
        }

        var found = new List<string>();
        long tokens = 0;
        foreach (var shard in manifest.TrainShards.Concat(manifest.ValidationShards))
        {
            var bytes = (await datasets.GetBlobClient(BlobPath.Parse(shard.Path).Name).DownloadContentAsync()).Value.Content.ToArray();
            Assert.Equal(shard.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            var data = TokenShard.Read(bytes);
            Assert.Equal(shard.Items, data.DocumentCount);
            for (var d = 0; d < data.DocumentCount; d++)
            {
                found.Add(string.Join(',', data.Document(d).ToArray()));
            }

            tokens += data.Ids.Length;
        }

        Assert.Equal(manifest.Tokens, tokens);
        Assert.Equal(expected.Order(), found.Order());
    }

    [Fact]
    public async Task Sealing_is_deterministic_and_independent_of_upload_order_and_repeat_calls()
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service);
        var texts = Enumerable.Range(0, 8).Select(i => string.Concat(Enumerable.Range(0, 15).Select(j => $"Document {i} paragraph {j} with words {i * j} and more.\n\n"))).ToArray();
        var options = new TextSealOptions { Vocabulary = new WordPieceTrainerOptions { VocabSize = 150 }, ValidationFraction = 0.25, TokensPerShard = 500 };

        async Task<DatasetManifest> IngestAsync(IEnumerable<int> order)
        {
            var dataset = NewDataset();
            foreach (var i in order)
            {
                await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, $"f{i}.txt", Encoding.UTF8.GetBytes(texts[i])));
            }

            var first = await ingestion.SealWithSummaryAsync(dataset, "v1", options);
            var repeat = await ingestion.SealWithSummaryAsync(dataset, "v1", options);
            Assert.True(repeat.AlreadySealed);
            Assert.Equal(first.Result, repeat.Result);
            return first.Manifest;
        }

        var a = await IngestAsync(Enumerable.Range(0, 8));
        var b = await IngestAsync(Enumerable.Range(0, 8).Reverse());
        Assert.Equal(a.VocabSha256, b.VocabSha256);
        Assert.Equal(a.TrainShards.Select(s => s.Sha256), b.TrainShards.Select(s => s.Sha256));
        Assert.Equal(a.ValidationShards.Select(s => s.Sha256), b.ValidationShards.Select(s => s.Sha256));
        Assert.InRange(a.ValidationShards.Sum(s => s.Items), 10, 50); // ~25% of 120
    }

    /// <summary>
    /// The acceptance report records the ETag of the bytes hashed; the seal reads an upload still at that ETag without
    /// hashing it again, and hashes one whose ETag moved: rewritten with other bytes is flagged changedSinceAccepted,
    /// rewritten with the same bytes is not. Reports without an ETag (written before it was recorded) seal the same.
    /// </summary>
    [Fact]
    public async Task Seal_trusts_the_accepted_etag_and_rehashes_uploads_rewritten_since()
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service);
        var options = new TextSealOptions { Vocabulary = new WordPieceTrainerOptions { VocabSize = 120 }, ValidationFraction = 0.2, TokensPerShard = 300 };
        var datasets = service.GetBlobContainerClient(BlobLayout.Datasets);
        var other = Encoding.UTF8.GetBytes("Now the serpent was more subtil than any beast of the field.\n\nAnd the woman said unto the serpent.\n\n");
        var texts = Enumerable.Range(0, 3).Select(i => Encoding.UTF8.GetBytes(Genesis + $"Paragraph number {i} of upload {i}.\n\n")).ToArray();

        async Task<(DatasetManifest Manifest, JsonElement Sources)> RunAsync(bool rewrite, bool dropETags)
        {
            var dataset = NewDataset();
            var uploads = new List<BlobPath>();
            for (var i = 0; i < texts.Length; i++)
            {
                var path = await UploadAsync(service, dataset, $"u{i}.txt", texts[i]);
                uploads.Add(path);
                var outcome = await ingestion.AcceptBlobAsync(path);
                var reportBlob = datasets.GetBlobClient(TextIngestion.AcceptanceReport(dataset, outcome.ContentHash).Name);
                var report = (await reportBlob.DownloadContentAsync()).Value.Content.ToObjectFromJson<TextAcceptanceReport>(PipelineJson.Options)!;
                var etag = (await service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name).GetPropertiesAsync()).Value.ETag;
                Assert.Equal(etag.ToString(), report.ETag);
                if (dropETags)
                {
                    await reportBlob.UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(report with { ETag = null }, PipelineJson.Options)), overwrite: true);
                }
            }

            if (rewrite)
            {
                await UploadAsync(service, dataset, "u0.txt", texts[0]); // same bytes, new ETag
                await UploadAsync(service, dataset, "u1.txt", other); // other bytes
            }

            var manifest = (await ingestion.SealWithSummaryAsync(dataset, "v1", options)).Manifest;
            return (manifest, manifest.Extra!["sources"]);
        }

        static string Digest(DatasetManifest m) => string.Join(' ', new[] { m.VocabSha256! }.Concat(m.TrainShards.Concat(m.ValidationShards).Select(s => s.Sha256)));
        static bool Changed(JsonElement sources, string name) =>
            sources.EnumerateArray().Single(s => s.GetProperty("path").GetString()!.EndsWith("/" + name, StringComparison.Ordinal)).GetProperty("changedSinceAccepted").GetBoolean();

        var trusted = await RunAsync(rewrite: false, dropETags: false);
        var hashed = await RunAsync(rewrite: false, dropETags: true);
        Assert.Equal(Digest(trusted.Manifest), Digest(hashed.Manifest));
        Assert.All(trusted.Sources.EnumerateArray().Concat(hashed.Sources.EnumerateArray()), s => Assert.False(s.GetProperty("changedSinceAccepted").GetBoolean()));

        var rewritten = await RunAsync(rewrite: true, dropETags: false);
        Assert.False(Changed(rewritten.Sources, "u0.txt"));
        Assert.True(Changed(rewritten.Sources, "u1.txt"));
        Assert.False(Changed(rewritten.Sources, "u2.txt"));
        Assert.NotEqual(Digest(trusted.Manifest), Digest(rewritten.Manifest)); // u1's new text was read, not the accepted one
    }

    /// <summary>
    /// Pins what a seal produces (vocab.txt bytes, every shard's bytes, document and token counts) on a fixed mixed
    /// corpus: paragraphs and one-per-line .txt, CRLF, .md.gz, .jsonl, accents, CJK, emoji, punctuation, a literal
    /// [MASK], numbers, duplicates within and across uploads, a paragraph cut at MaxDocumentChars and enough distinct
    /// words to prune the counts. The expected digest was computed with the seal of commit 72b1749 (before the
    /// ingestion speed work of 2026-11-29 second session); a speed change must leave it unchanged.
    /// </summary>
    [Fact]
    public async Task Seal_output_is_pinned_byte_for_byte_on_a_mixed_corpus()
    {
        var service = await azurite.CreateLayoutAsync();
        var ingestion = new TextIngestion(service);
        var dataset = NewDataset();
        var rng = new Random(7);
        string[] pieces = ["the", "The", "evening", "morning", "Café", "naïve", "ÜBER", "中国人", "🙂", "don't", "$+=", "[MASK]", "ﬁne", "co-op", "x1", "2026", "(¶", ")", "a\tb", "Straße", "İstanbul", "κόσμε"];
        string Word() => rng.Next(4) == 0
            ? new string([.. Enumerable.Range(0, rng.Next(2, 9)).Select(_ => (char)('a' + rng.Next(26)))])
            : pieces[rng.Next(pieces.Length)];
        string Paragraph(int words) => string.Join(rng.Next(6) == 0 ? "\n" : " ", Enumerable.Range(0, words).Select(_ => Word()));

        var prose = new StringBuilder();
        for (var p = 0; p < 300; p++)
        {
            prose.Append(Paragraph(rng.Next(3, 40))).Append(rng.Next(3) == 0 ? "\r\n\r\n" : "\n\n");
            if (p % 50 == 0)
            {
                prose.Append("A repeated paragraph, kept once.\n\n");
            }
        }

        prose.Append(string.Join(' ', Enumerable.Range(0, 9000).Select(i => $"long{i % 97}"))).Append("\n\n"); // over 32K chars: cut
        var lines = string.Concat(Enumerable.Range(0, 1500).Select(i => $"gloss {i}: {Paragraph(rng.Next(2, 12))}\n"));
        var jsonl = string.Concat(Enumerable.Range(0, 200).Select(i => JsonSerializer.Serialize(new { text = Paragraph(rng.Next(1, 20)), id = i }) + "\n"));
        var md = "# Title\n\nA repeated paragraph, kept once.\n\n" + string.Concat(Enumerable.Range(0, 100).Select(_ => Paragraph(rng.Next(5, 30)) + "\n\n"));
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "prose.txt", Encoding.UTF8.GetBytes(prose.ToString())));
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "lines.txt", Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(lines)).ToArray()));
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "records.jsonl", Encoding.UTF8.GetBytes(jsonl)));
        await ingestion.AcceptBlobAsync(await UploadAsync(service, dataset, "notes.md.gz", Gzip(Encoding.UTF8.GetBytes(md))));

        var options = new TextSealOptions
        {
            Vocabulary = new WordPieceTrainerOptions { VocabSize = 400 },
            MaxCountedWords = 1024,
            ValidationFraction = 0.3,
            TokensPerShard = 2000,
        };
        var manifest = (await ingestion.SealWithSummaryAsync(dataset, "v1", options)).Manifest;
        var datasets = service.GetBlobContainerClient(BlobLayout.Datasets);
        var digest = new StringBuilder();
        digest.Append(manifest.VocabSha256).Append(' ').Append(manifest.Documents).Append(' ').Append(manifest.Tokens);
        foreach (var shard in manifest.TrainShards.Concat(manifest.ValidationShards))
        {
            var bytes = (await datasets.GetBlobClient(BlobPath.Parse(shard.Path).Name).DownloadContentAsync()).Value.Content.ToArray();
            digest.Append(' ').Append(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
        }

        Assert.True(manifest.TrainShards.Count > 3 && manifest.ValidationShards.Count > 1, "several shards each way");
        Assert.Equal(
            "070fbe8226585d33602ded8e421f9ca0a98b662ec75b02418d96525196ba5b0a",
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(digest.ToString()))));
    }
}
