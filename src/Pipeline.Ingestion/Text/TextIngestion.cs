using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Storage;
using Pipeline.Core.Text;
using Pipeline.Ingestion.Dedupe;
using Pipeline.Ingestion.Quarantine;

namespace Pipeline.Ingestion.Text;

/// <summary>
/// Text ingestion: per upload, stream-validate, hash and dedupe (AcceptBlobAsync); per dataset version, train the
/// WordPiece vocabulary over every accepted upload and write token shards, vocab.txt and manifest.json (SealAsync).
/// Blobs are streamed, never held whole in memory. Nothing is dropped silently: rejected uploads go to quarantine with
/// a reason, tolerated bad lines and dropped duplicates are counted in the acceptance report and the manifest.
/// </summary>
public sealed class TextIngestion(BlobServiceClient service, TextIngestionOptions? options = null)
{
    public const string AcceptedFolder = "accepted";
    private const int ReadBufferBytes = 4 * 1024 * 1024;
    private readonly TextIngestionOptions _options = Validated(options ?? new TextIngestionOptions());
    private readonly ContentIndex _index = new(service);
    private readonly QuarantineStore _quarantine = new(service);

    /// <summary>Called with the raw bytes read so far (for progress bars).</summary>
    public Action<long>? BytesRead { get; init; }

    /// <summary>datasets/{dataset}/accepted/{sha256}.json: what the acceptance pass saw in one upload.</summary>
    public static BlobPath AcceptanceReport(string dataset, string sha256) => new(BlobLayout.Datasets, $"{dataset}/{AcceptedFolder}/{sha256}.json");

    /// <summary>Accepts, dedupes or quarantines one upload under unlabeled/{dataset}/.</summary>
    public async Task<BlobIngestOutcome> AcceptBlobAsync(BlobPath upload, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await AcceptOnceAsync(upload, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status == 412 && attempt < 2)
            {
                // Overwritten between reading its properties and reading its bytes: accept what it is now.
            }
        }
    }

    /// <summary>
    /// One acceptance: the bytes are read under If-Match on the ETag of the properties read first, so the report's
    /// ETag is the ETag of exactly the bytes hashed (the seal trusts it to skip re-hashing).
    /// </summary>
    private async Task<BlobIngestOutcome> AcceptOnceAsync(BlobPath upload, CancellationToken cancellationToken)
    {
        var (dataset, relative) = SplitUpload(upload);
        var blob = service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name);
        BlobProperties properties;
        try
        {
            properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // A repeated event for an upload already moved to quarantine: report the recorded outcome.
            var previous = await _quarantine.ReadReasonAsync(dataset, relative, cancellationToken).ConfigureAwait(false);
            return previous is not null
                ? new BlobIngestOutcome(BlobIngestOutcome.Statuses.Quarantined, previous.Sha256 ?? "", previous.Code)
                : throw new FileNotFoundException($"Upload {upload} does not exist and was never quarantined.");
        }

        QuarantineReason? reason = null;
        TextReadStats? stats = null;
        if (!TextFormats.TryDetect(relative, out var format, out var gzip))
        {
            reason = new QuarantineReason(QuarantineCodes.UnsupportedExtension,
                $"'{Path.GetExtension(relative)}' is not a text upload; use {string.Join(' ', TextFormats.Extensions)}.");
        }
        else if (properties.ContentLength == 0)
        {
            reason = new QuarantineReason(QuarantineCodes.Empty, "The file is empty (0 bytes).");
        }
        else if (properties.ContentLength > _options.MaxBlobBytes)
        {
            reason = new QuarantineReason(QuarantineCodes.TooLarge,
                $"The file is {properties.ContentLength} bytes, over the {_options.MaxBlobBytes}-byte limit; split it into smaller uploads.");
        }
        else
        {
            stats = new TextReadStats();
            try
            {
                await using var stream = await OpenAsync(blob, cancellationToken, properties.ETag).ConfigureAwait(false);
                foreach (var _ in TextDocumentReader.Read(stream, format, gzip, _options.Read, stats))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }

                reason = Judge(stats, format);
            }
            catch (TextContentException e)
            {
                reason = new QuarantineReason(e.Code, e.Message);
            }
        }

        if (reason is not null)
        {
            var details = stats is null ? null : Details(stats);
            await _quarantine.QuarantineAsync(upload, dataset, relative, reason with { Details = reason.Details ?? details }, stats?.Sha256, cancellationToken)
                .ConfigureAwait(false);
            return new BlobIngestOutcome(BlobIngestOutcome.Statuses.Quarantined, stats?.Sha256 ?? "", reason.Code);
        }

        var sha256 = stats!.Sha256!;
        var claim = await _index.TryClaimAsync(dataset, sha256, upload.ToString(), cancellationToken).ConfigureAwait(false);
        if (!claim.IsFirst && !claim.SameSource)
        {
            return new BlobIngestOutcome(BlobIngestOutcome.Statuses.Duplicate, sha256, DuplicateOf: claim.FirstSource);
        }

        var report = new TextAcceptanceReport(upload.ToString(), sha256, format, gzip, stats.RawBytes, stats.DecodedChars, stats.Lines,
            stats.Documents, stats.ReplacementChars, stats.JsonLines, stats.BadJsonLines, stats.BadJsonLineSamples, DateTimeOffset.UtcNow, properties.ETag.ToString());
        var reportPath = AcceptanceReport(dataset, sha256);
        await service.GetBlobContainerClient(reportPath.Container).GetBlobClient(reportPath.Name)
            .UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(report, PipelineJson.Options)), overwrite: true, cancellationToken)
            .ConfigureAwait(false);
        return new BlobIngestOutcome(BlobIngestOutcome.Statuses.Accepted, sha256);
    }

    /// <summary>Seals a dataset version; see <see cref="SealWithSummaryAsync"/>.</summary>
    public async Task<DatasetVersionResult> SealAsync(string dataset, string version, TextSealOptions? options = null, CancellationToken cancellationToken = default) =>
        (await SealWithSummaryAsync(dataset, version, options, cancellationToken).ConfigureAwait(false)).Result;

    /// <summary>
    /// Seals datasets/{dataset}/{version}/ from every accepted text upload (ordered by content hash, so the upload order
    /// does not matter): pass 1 counts words and trains vocab.txt (unless VocabFrom), pass 2 encodes with
    /// <see cref="WordPieceEncoder"/> into token shards split train/validation by document hash; manifest.json is
    /// written last, so its presence marks the version complete and a repeated call returns it unchanged.
    /// </summary>
    public async Task<TextSealSummary> SealWithSummaryAsync(string dataset, string version, TextSealOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TextSealOptions();
        options.Validate();
        var container = service.GetBlobContainerClient(BlobLayout.Datasets);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var manifestPath = BlobLayout.DatasetManifest(dataset, version);
        var manifestBlob = container.GetBlobClient(manifestPath.Name);
        if ((await manifestBlob.ExistsAsync(cancellationToken).ConfigureAwait(false)).Value)
        {
            var existing = (await manifestBlob.DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content
                .ToObjectFromJson<DatasetManifest>(PipelineJson.Options)!;
            return Summarize(manifestPath, existing, alreadySealed: true);
        }

        var sources = await ListAcceptedAsync(dataset, cancellationToken).ConfigureAwait(false);
        if (sources.Count == 0)
        {
            throw new InvalidOperationException($"Dataset '{dataset}' has no accepted text uploads; upload .txt/.md/.jsonl files under {BlobLayout.Unlabeled}/{dataset}/ first.");
        }

        var prefix = BlobLayout.DatasetVersionPrefix(dataset, version);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();

        // Pass 1: vocabulary.
        byte[] vocabBytes;
        DuplicatePlan? duplicatePlan = null;
        if (options.VocabFrom is { } vocabFrom)
        {
            var path = BlobPath.Parse(vocabFrom);
            vocabBytes = (await service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name).DownloadContentAsync(cancellationToken).ConfigureAwait(false))
                .Value.Content.ToArray();
        }
        else
        {
            (vocabBytes, duplicatePlan) = await TrainVocabularyAsync(sources, options, clock, timings, cancellationToken).ConfigureAwait(false);
            ReleaseMemory(); // the word counts and merge tables died with the trainer
        }

        var encoder = WordPieceEncoder.Load(new MemoryStream(vocabBytes), options.Normalization);
        var vocabPath = BlobLayout.DatasetVocab(dataset, version);
        await container.GetBlobClient(vocabPath.Name).UploadAsync(BinaryData.FromBytes(vocabBytes), overwrite: true, cancellationToken).ConfigureAwait(false);

        // Pass 2: encode into shards.
        var encodeStart = clock.Elapsed.TotalSeconds;
        var train = new ShardWriter(container, prefix + "train", encoder.VocabSize, options.TokensPerShard);
        var validation = new ShardWriter(container, prefix + "validation", encoder.VocabSize, options.TokensPerShard);
        long emptyDocuments = 0;
        var session = encoder.CreateSession(); // one thread encodes: a flat word memo of its own
        var counts = await ForEachDocumentAsync(sources, options, (source, text, documentHash) =>
        {
            // Encoded straight into the shard's flat id buffer: no per-document arrays.
            var writer = IsValidation(documentHash, options.ValidationFraction) ? validation : train;
            var tokens = writer.AppendDocument(session, text);
            if (tokens == 0)
            {
                emptyDocuments++;
                return;
            }

            source.Documents++;
            source.Tokens += tokens;
        }, cancellationToken, replay: duplicatePlan, documentHashes: true, afterEach: async ct =>
        {
            await train.FlushFullAsync(ct).ConfigureAwait(false);
            await validation.FlushFullAsync(ct).ConfigureAwait(false);
        }).ConfigureAwait(false);
        await train.FinishAsync(cancellationToken).ConfigureAwait(false);
        await validation.FinishAsync(cancellationToken).ConfigureAwait(false);
        timings["encodeAndShard"] = clock.Elapsed.TotalSeconds - encodeStart;
        if (train.Documents == 0)
        {
            throw new InvalidOperationException($"Dataset '{dataset}' has no text left to train on after normalisation and dedupe ({emptyDocuments} empty documents).");
        }

        var quarantined = await CountQuarantinedAsync(dataset, cancellationToken).ConfigureAwait(false);
        var manifest = new DatasetManifest
        {
            Kind = "text",
            Dataset = dataset,
            Version = version,
            CreatedUtc = DateTimeOffset.UtcNow,
            Vocab = vocabPath.ToString(),
            VocabSha256 = Convert.ToHexStringLower(SHA256.HashData(vocabBytes)),
            VocabSize = encoder.VocabSize,
            Documents = train.Documents + validation.Documents,
            Tokens = train.Tokens + validation.Tokens,
            TrainShards = train.Shards,
            ValidationShards = validation.Shards,
            Extra = new Dictionary<string, JsonElement>
            {
                ["normalization"] = JsonSerializer.SerializeToElement(options.Normalization, PipelineJson.Options),
                ["tokenizer"] = JsonSerializer.SerializeToElement(new
                {
                    type = "wordpiece",
                    library = "Microsoft.ML.Tokenizers WordPieceTokenizer + HF BERT pre-tokenisation",
                    continuationPrefix = SpecialTokens.ContinuationPrefix,
                    maxInputCharsPerWord = SpecialTokens.MaxInputCharsPerWord,
                    specialTokens = SpecialTokens.All,
                }, PipelineJson.Options),
                ["vocabularyTraining"] = options.VocabFrom is null
                    ? JsonSerializer.SerializeToElement(options.Vocabulary, PipelineJson.Options)
                    : JsonSerializer.SerializeToElement(new { reusedFrom = options.VocabFrom }, PipelineJson.Options),
                ["sources"] = JsonSerializer.SerializeToElement(sources.Select(s => new
                {
                    path = s.Source, sha256 = s.Sha256, bytes = s.Bytes, documents = s.Documents, tokens = s.Tokens,
                    duplicateDocuments = s.DuplicateDocuments, badJsonLines = s.BadJsonLines, invalidUtf8Chars = s.ReplacementChars, missing = s.Missing, changedSinceAccepted = s.Changed,
                }), PipelineJson.Options),
                ["duplicateDocuments"] = JsonSerializer.SerializeToElement(counts.DuplicateDocuments),
                ["emptyDocuments"] = JsonSerializer.SerializeToElement(emptyDocuments),
                ["missingSources"] = JsonSerializer.SerializeToElement(counts.MissingSources),
                ["quarantinedUploads"] = JsonSerializer.SerializeToElement(quarantined),
                ["badJsonLines"] = JsonSerializer.SerializeToElement(sources.Sum(s => s.BadJsonLines)),
                ["invalidUtf8Chars"] = JsonSerializer.SerializeToElement(sources.Sum(s => s.ReplacementChars)),
                ["inputBytes"] = JsonSerializer.SerializeToElement(counts.Bytes),
                ["validationFraction"] = JsonSerializer.SerializeToElement(options.ValidationFraction),
                ["split"] = JsonSerializer.SerializeToElement("validation when (FNV-1a 64 of the document's UTF-16 text) mod 2^20 / 2^20 < validationFraction"),
                ["tokensPerShard"] = JsonSerializer.SerializeToElement(options.TokensPerShard),
                ["sealSeconds"] = JsonSerializer.SerializeToElement(timings.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 2))),
                ["shardFormat"] = JsonSerializer.SerializeToElement("PLTOKSH1 (Pipeline.Core.Datasets.TokenShard): ids without [CLS]/[SEP], document offsets"),
            },
        };
        await manifestBlob.UploadAsync(BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(manifest, PipelineJson.Options)), overwrite: true, cancellationToken)
            .ConfigureAwait(false);
        return Summarize(manifestPath, manifest, alreadySealed: false) with { DuplicateDocuments = counts.DuplicateDocuments, InputBytes = counts.Bytes };
    }

    /// <summary>
    /// Pass 1 in its own method so the word counts die with it: locals of the (async) seal method live until it ends,
    /// and would otherwise sit in memory beside pass 2.
    /// </summary>
    private async Task<(byte[] Vocab, DuplicatePlan? Duplicates)> TrainVocabularyAsync(
        List<AcceptedSource> sources, TextSealOptions options, System.Diagnostics.Stopwatch clock, Dictionary<string, double> timings,
        CancellationToken cancellationToken)
    {
        var trainer = new WordPieceTrainer(options.Normalization, options.MaxCountedWords);
        var plan = new DuplicatePlan();
        await ForEachDocumentAsync(sources, options, (_, text, _) => trainer.Add(text.AsSpan()), cancellationToken, record: plan).ConfigureAwait(false);
        timings["countWords"] = clock.Elapsed.TotalSeconds;
        ReleaseMemory(); // pass 1's dedupe set and read buffers are garbage now; training needs room
        var vocab = trainer.Train(options.Vocabulary);
        timings["trainVocabulary"] = clock.Elapsed.TotalSeconds - timings["countWords"];
        using var vocabStream = new MemoryStream();
        WordPieceTrainer.WriteVocab(vocab, vocabStream);

        // Pass 2 can replay pass 1's duplicate decisions (no second hash set) only if it will read the very same bytes.
        return (vocabStream.ToArray(), sources.Any(s => s.Missing || s.Changed) ? null : plan);
    }

    /// <summary>
    /// A full, compacting collection that hands freed memory back to the OS, between the seal's phases: each phase
    /// leaves tens of MB of large, dead structures (dedupe set, word counts, merge tables) that the GC would otherwise
    /// keep committed into the next phase, where the process' peak RSS is made. Tens of milliseconds, twice a seal.
    /// </summary>
    private static void ReleaseMemory() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Deterministic split by content: the same document lands in the same split in every version.</summary>
    public static bool IsValidation(ulong documentHash, double fraction) => (documentHash & 0xFFFFF) < fraction * (1 << 20);

    /// <summary>FNV-1a 64 over the UTF-16 code units: the document hash used for the split and for dedupe.</summary>
    public static ulong DocumentHash(ReadOnlySpan<char> text) => ContinueHash(HashBasis, text);

    /// <summary>
    /// <see cref="DocumentHash"/> of two documents at once: the same two hashes. Each FNV step waits for the one before
    /// (an xor and a 3-cycle multiply per character), so one document's hash runs at that latency; two independent
    /// chains in one loop keep the multiplier busy twice as often.
    /// </summary>
    public static (ulong A, ulong B) DocumentHashes(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        ulong ha = HashBasis, hb = HashBasis;
        var n = Math.Min(a.Length, b.Length);
        var i = 0;
        for (; i < n; i++)
        {
            char ca = a[i], cb = b[i];
            if ((ca | cb) < 256)
            {
                ha = (ha ^ ca) * HashPrimeSquared;
                hb = (hb ^ cb) * HashPrimeSquared;
            }
            else
            {
                ha = HashStep(ha, ca);
                hb = HashStep(hb, cb);
            }
        }

        return (ContinueHash(ha, a[i..]), ContinueHash(hb, b[i..]));
    }

    private const ulong HashBasis = 14695981039346656037UL, HashPrime = 1099511628211UL, HashPrimeSquared = unchecked(HashPrime * HashPrime);

    private static ulong ContinueHash(ulong h, ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            h = c < 256 ? (h ^ c) * HashPrimeSquared : HashStep(h, c);
        }

        return h;
    }

    /// <summary>
    /// One UTF-16 code unit, low byte then high byte. For c &lt; 256 the high byte's step is a bare multiply
    /// ((h ^ 0) * P), so both fold into (h ^ c) * P^2: one multiply per character on Latin-1 text, the same hash.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ulong HashStep(ulong h, char c)
    {
        h = (h ^ (byte)c) * HashPrime;
        return (h ^ (byte)(c >> 8)) * HashPrime;
    }

    /// <summary>
    /// The dedupe key: XXH3-64 of the document's UTF-16 bytes (vectorised; independent of <see cref="DocumentHash"/>).
    /// In memory only (pass 2 replays pass 1's decisions). 8 bytes per distinct document keeps the set small on large
    /// corpora; two different documents share a key with probability ~ n^2 / 2^65 (about 1 in 10^7 at two million
    /// documents), the one way a document could be dropped as a false duplicate.
    /// </summary>
    private static ulong DedupeKey(string text) =>
        System.IO.Hashing.XxHash3.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(text.AsSpan()));

    private async Task<SealCounts> ForEachDocumentAsync(
        List<AcceptedSource> sources, TextSealOptions options, Action<AcceptedSource, string, ulong> onDocument, CancellationToken cancellationToken,
        DuplicatePlan? record = null, DuplicatePlan? replay = null, bool documentHashes = false, Func<CancellationToken, Task>? afterEach = null)
    {
        var seen = options.DropDuplicateDocuments && replay is null ? new UInt64Set() : null;
        long duplicates = 0, bytes = 0, missing = 0, ordinal = -1;
        foreach (var source in sources)
        {
            source.DuplicateDocuments = 0;
            source.Documents = 0;
            source.Tokens = 0;
            var path = BlobPath.Parse(source.Source);
            var blob = service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name);
            TextFormats.TryDetect(path.Name, out var format, out var gzip);
            TextReadStats stats;
            bool unchanged, gone = false, trustETag = source.ETag is not null;
            while (true)
            {
                stats = new TextReadStats();
                unchanged = false;
                try
                {
                    // Still the accepted bytes (same ETag, and read under If-Match on it): no need to hash them again.
                    // Otherwise they are hashed and compared with the accepted sha256, as before ETags were recorded.
                    if (trustETag)
                    {
                        unchanged = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.ETag == new ETag(source.ETag!);
                    }

                    await using var stream = await OpenAsync(blob, cancellationToken, unchanged ? new ETag(source.ETag!) : null).ConfigureAwait(false);
                    var documents = TextDocumentReader.Read(stream, format, gzip, _options.Read, stats, hashContent: !unchanged);
                    foreach (var (text, documentHash) in documentHashes ? WithDocumentHashes(documents) : documents.Select(d => (d, 0UL)))
                    {
                        ordinal++;
                        var duplicate = replay is not null ? replay.IsDuplicate(ordinal) : seen is not null && !seen.Add(DedupeKey(text));
                        if (duplicate)
                        {
                            record?.Add(ordinal);
                            duplicates++;
                            source.DuplicateDocuments++;
                            continue;
                        }

                        onDocument(source, text, documentHash);
                        if (afterEach is not null)
                        {
                            await afterEach(cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
                catch (RequestFailedException e) when (e.Status == 412 && unchanged && stats.Documents == 0)
                {
                    // Overwritten between the ETag check and the first read: read (and hash) what it holds now.
                    trustETag = false;
                    continue;
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    // Deleted after it was accepted: recorded in the manifest, not part of this version.
                    source.Missing = true;
                    missing++;
                    gone = true;
                }

                break;
            }

            if (gone)
            {
                continue;
            }

            if (!unchanged && stats.Sha256 != source.Sha256)
            {
                // Overwritten after acceptance (its new bytes also get their own blob event): what was read is in this
                // version, and the manifest says so.
                source.Changed = true;
            }

            bytes += stats.RawBytes;
            if (afterEach is not null)
            {
                await afterEach(cancellationToken).ConfigureAwait(false);
            }
        }

        return new SealCounts(duplicates, bytes, missing);
    }

    /// <summary>Each document with its <see cref="DocumentHash"/>, computed two documents at a time (same order, same hashes).</summary>
    private static IEnumerable<(string Text, ulong Hash)> WithDocumentHashes(IEnumerable<string> documents)
    {
        string? held = null;
        foreach (var document in documents)
        {
            if (held is null)
            {
                held = document;
                continue;
            }

            var (a, b) = DocumentHashes(held, document);
            yield return (held, a);
            yield return (document, b);
            held = null;
        }

        if (held is not null)
        {
            yield return (held, DocumentHash(held));
        }
    }

    private async Task<List<AcceptedSource>> ListAcceptedAsync(string dataset, CancellationToken cancellationToken)
    {
        var container = service.GetBlobContainerClient(BlobLayout.Datasets);
        var sources = new List<AcceptedSource>();
        await foreach (var item in container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{dataset}/index/", cancellationToken).ConfigureAwait(false))
        {
            if (!item.IsBlob || !item.Blob.Name.EndsWith(".json", StringComparison.Ordinal))
            {
                continue;
            }

            var entry = (await container.GetBlobClient(item.Blob.Name).DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content
                .ToObjectFromJson<ContentIndexEntry>(PipelineJson.Options)!;
            if (!TextFormats.TryDetect(BlobPath.Parse(entry.FirstSource).Name, out _, out _))
            {
                continue; // an image of the same dataset
            }

            var source = new AcceptedSource(entry.FirstSource, entry.Sha256);
            try
            {
                var reportPath = AcceptanceReport(dataset, entry.Sha256);
                var report = (await container.GetBlobClient(reportPath.Name).DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content
                    .ToObjectFromJson<TextAcceptanceReport>(PipelineJson.Options)!;
                source.Bytes = report.Bytes;
                source.BadJsonLines = report.BadJsonLines;
                source.ReplacementChars = report.InvalidUtf8Chars;
                source.ETag = report.ETag;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // Claimed but the report was not written yet (a crash between the two): it is read again below anyway.
            }

            sources.Add(source);
        }

        sources.Sort((a, b) => string.CompareOrdinal(a.Sha256, b.Sha256));
        return sources;
    }

    private async Task<long> CountQuarantinedAsync(string dataset, CancellationToken cancellationToken)
    {
        long n = 0;
        var container = service.GetBlobContainerClient(BlobLayout.Quarantine);
        if (!(await container.ExistsAsync(cancellationToken).ConfigureAwait(false)).Value)
        {
            return 0;
        }

        await foreach (var item in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, $"{dataset}/", cancellationToken).ConfigureAwait(false))
        {
            if (item.Name.EndsWith(".reason.json", StringComparison.Ordinal))
            {
                n++;
            }
        }

        return n;
    }

    private async Task<Stream> OpenAsync(BlobClient blob, CancellationToken cancellationToken, ETag? ifMatch = null)
    {
        var options = new BlobOpenReadOptions(allowModifications: false) { BufferSize = ReadBufferBytes };
        if (ifMatch is { } etag)
        {
            options.Conditions = new BlobRequestConditions { IfMatch = etag };
        }

        var stream = await blob.OpenReadAsync(options, cancellationToken).ConfigureAwait(false);
        return BytesRead is null ? stream : new ProgressStream(stream, BytesRead);
    }

    private QuarantineReason? Judge(TextReadStats stats, TextFormat format)
    {
        if (format == TextFormat.JsonLines && stats.BadJsonLines > _options.MaxBadJsonLineFraction * stats.JsonLines)
        {
            return new QuarantineReason(QuarantineCodes.InvalidJsonLines,
                $"{stats.BadJsonLines} of {stats.JsonLines} lines are not JSON objects with a string \"{_options.Read.JsonTextField}\" field " +
                $"(tolerance {_options.MaxBadJsonLineFraction:P1}); fix them or set the text field name.",
                Details(stats));
        }

        return stats.Documents == 0
            ? new QuarantineReason(QuarantineCodes.NoContent, "The file has no text (only whitespace, or no usable .jsonl text).", Details(stats))
            : null;
    }

    private static Dictionary<string, string> Details(TextReadStats stats)
    {
        var details = new Dictionary<string, string>
        {
            ["bytes"] = stats.RawBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["lines"] = stats.Lines.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["documents"] = stats.Documents.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["invalidUtf8Chars"] = stats.ReplacementChars.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (stats.JsonLines > 0)
        {
            details["jsonLines"] = stats.JsonLines.ToString(System.Globalization.CultureInfo.InvariantCulture);
            details["badJsonLines"] = stats.BadJsonLines.ToString(System.Globalization.CultureInfo.InvariantCulture);
            details["badJsonLineSamples"] = string.Join("\n", stats.BadJsonLineSamples);
        }

        return details;
    }

    private static TextSealSummary Summarize(BlobPath manifestPath, DatasetManifest manifest, bool alreadySealed)
    {
        long trainDocs = manifest.TrainShards.Sum(s => s.Items), validationDocs = manifest.ValidationShards.Sum(s => s.Items);
        var extra = manifest.Extra;
        long Get(string key) => extra is not null && extra.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
        return new TextSealSummary(
            new DatasetVersionResult(manifestPath, trainDocs + validationDocs, trainDocs, validationDocs, Get("duplicateDocuments") + Get("emptyDocuments") + Get("missingSources")),
            manifest, manifest.Tokens, Get("duplicateDocuments"), Get("quarantinedUploads"), Get("inputBytes"), alreadySealed);
    }

    private static TextIngestionOptions Validated(TextIngestionOptions options)
    {
        options.Validate();
        return options;
    }

    private static (string Dataset, string Relative) SplitUpload(BlobPath upload)
    {
        var slash = upload.Name.IndexOf('/');
        if (upload.Container != BlobLayout.Unlabeled || slash <= 0 || slash == upload.Name.Length - 1)
        {
            throw new ArgumentException($"{upload} is not an upload; text goes under {BlobLayout.Unlabeled}/{{dataset}}/.");
        }

        return (upload.Name[..slash], upload.Name[(slash + 1)..]);
    }

    private sealed record SealCounts(long DuplicateDocuments, long Bytes, long MissingSources);

    /// <summary>Pass 1's dedupe decisions: the ordinals (in reading order over all sources) of the documents dropped.</summary>
    private sealed class DuplicatePlan
    {
        private readonly List<long> _ordinals = [];
        private int _next;

        /// <summary>Records a dropped ordinal (pass 1 reads in order, so the list is sorted).</summary>
        public void Add(long ordinal) => _ordinals.Add(ordinal);

        /// <summary>Asked once per ordinal, in increasing order (pass 2 reads in the same order).</summary>
        public bool IsDuplicate(long ordinal)
        {
            if (_next < _ordinals.Count && _ordinals[_next] == ordinal)
            {
                _next++;
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// A set of 64-bit keys in one flat open-addressing array (8 bytes a slot, at most 3/4 full): about a third of
    /// HashSet&lt;ulong&gt;'s memory for the dedupe keys of millions of documents.
    /// </summary>
    private sealed class UInt64Set
    {
        private ulong[] _slots = new ulong[1 << 16];
        private int _count;
        private bool _hasZero;

        /// <summary>False when the key was already present.</summary>
        public bool Add(ulong key)
        {
            if (key == 0)
            {
                var had = _hasZero;
                _hasZero = true;
                return !had;
            }

            if ((_count + 1) * 4L > _slots.Length * 3L)
            {
                var old = _slots;
                _slots = new ulong[old.Length * 2];
                foreach (var k in old)
                {
                    if (k != 0)
                    {
                        Insert(k);
                    }
                }
            }

            if (!Insert(key))
            {
                return false;
            }

            _count++;
            return true;
        }

        private bool Insert(ulong key)
        {
            var mask = _slots.Length - 1;
            var i = (int)((key * 0x9E3779B97F4A7C15UL) >> 33) & mask;
            while (true)
            {
                var k = _slots[i];
                if (k == key)
                {
                    return false;
                }

                if (k == 0)
                {
                    _slots[i] = key;
                    return true;
                }

                i = (i + 1) & mask;
            }
        }
    }

    private sealed class AcceptedSource(string source, string sha256)
    {
        public string Source { get; } = source;

        public string Sha256 { get; } = sha256;

        public long Bytes { get; set; }

        public long Documents { get; set; }

        public long Tokens { get; set; }

        public long DuplicateDocuments { get; set; }

        public long BadJsonLines { get; set; }

        public long ReplacementChars { get; set; }

        public bool Missing { get; set; }

        public bool Changed { get; set; }

        /// <summary>The ETag of the bytes accepted (null in reports from before it was recorded).</summary>
        public string? ETag { get; set; }
    }

    /// <summary>Buffers whole documents (one flat id buffer + document ends) and uploads each shard as soon as it is full.</summary>
    private sealed class ShardWriter(BlobContainerClient container, string stem, int vocabSize, int tokensPerShard)
    {
        private readonly List<int> _ids = new(Math.Min(tokensPerShard, 1 << 22) + 1024);
        private readonly List<long> _ends = [];
        private MemoryStream? _buffer; // reused shard after shard (the upload reads it before the next one is written)

        public List<ShardInfo> Shards { get; } = [];

        public long Documents { get; private set; }

        public long Tokens { get; private set; }

        /// <summary>Encodes one document into the pending shard; returns its token count (0: nothing kept).</summary>
        public int AppendDocument(WordPieceEncoder.Session encoder, string text)
        {
            var start = _ids.Count;
            encoder.AppendIds(text, _ids);
            var n = _ids.Count - start;
            if (n > 0)
            {
                _ends.Add(_ids.Count);
                Documents++;
                Tokens += n;
            }

            return n;
        }

        public async Task FlushFullAsync(CancellationToken cancellationToken)
        {
            if (_ids.Count >= tokensPerShard)
            {
                await WriteAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public async Task FinishAsync(CancellationToken cancellationToken)
        {
            if (_ends.Count > 0)
            {
                await WriteAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task WriteAsync(CancellationToken cancellationToken)
        {
            int tokens = _ids.Count, documents = _ends.Count;
            var stream = _buffer ??= new MemoryStream((int)Math.Min(int.MaxValue, TokenShard.HeaderSize + ((long)tokens * TokenShard.BytesPerToken(vocabSize)) + ((documents + 1) * 8L)));
            stream.SetLength(0);
            TokenShard.Write(stream, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ends), vocabSize);
            var name = $"{stem}-{Shards.Count:D5}.tok";
            var sha = Convert.ToHexStringLower(SHA256.HashData(stream.GetBuffer().AsSpan(0, (int)stream.Length)));
            stream.Position = 0;
            await container.GetBlobClient(name).UploadAsync(stream, overwrite: true, cancellationToken).ConfigureAwait(false);
            Shards.Add(new ShardInfo($"{BlobLayout.Datasets}/{name}", sha, stream.Length, documents, tokens));
            _ids.Clear();
            _ends.Clear();
        }
    }

    private sealed class ProgressStream(Stream inner, Action<long> report) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            report(n);
            return n;
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
}

/// <summary>datasets/{dataset}/accepted/{sha256}.json: what was read from an accepted upload, tolerated problems included.</summary>
public sealed record TextAcceptanceReport(
    string Source, string Sha256, TextFormat Format, bool Gzip, long Bytes, long Chars, long Lines, long Documents, long InvalidUtf8Chars,
    long JsonLines, long BadJsonLines, IReadOnlyList<string> BadJsonLineSamples, DateTimeOffset AcceptedUtc, string? ETag = null);

/// <summary>The result of sealing a text version, with the counts the CLI prints.</summary>
public sealed record TextSealSummary(
    DatasetVersionResult Result, DatasetManifest Manifest, long Tokens, long DuplicateDocuments, long QuarantinedUploads, long InputBytes, bool AlreadySealed);
