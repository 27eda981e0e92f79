using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Microsoft.ML.Tokenizers;
using Pipeline.Core.Storage;
using Pipeline.Core.Text;
using Pipeline.Ingestion;
using Pipeline.Ingestion.Text;

// IngestBench generate <out.txt> <megabytes> <words-from.txt> <seed>
// IngestBench upload <connection-env-var> <dataset> <corpus-dir>   (the user's upload, in its own process)
// IngestBench ingest <connection-env-var> <dataset> <corpus-dir> <vocab-size> <out-vocab.txt>   (what is already uploaded)
// IngestBench train <out-vocab.txt> <vocab-size> <text files...>   (vocabulary trainer alone: time and peak RSS)
// IngestBench tokenize <vocab.txt> <megabytes-cap> <corpus files...>
return args[0] switch
{
    "generate" => Generate(args[1], long.Parse(args[2]), args[3], int.Parse(args[4])),
    "upload" => await UploadAsync(Environment.GetEnvironmentVariable(args[1])!, args[2], args[3]),
    "ingest" => await IngestAsync(Environment.GetEnvironmentVariable(args[1])!, args[2], args[3], int.Parse(args[4]), args[5]),
    "tokenize" => Tokenize(args[1], long.Parse(args[2]), args[3..]),
    "train" => Train(args[1], int.Parse(args[2]), args[3..]),
    "phases" => Phases(args[1], args[2..]),
    _ => 2,
};

// A Zipf-weighted sample of the real corpus' words in sentences and paragraphs, deterministic by seed.
static int Generate(string output, long megabytes, string wordsFrom, int seed)
{
    var counts = new Dictionary<string, int>(StringComparer.Ordinal);
    foreach (var line in File.ReadLines(wordsFrom))
    {
        foreach (var w in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (w.All(char.IsLetter))
            {
                counts[w] = counts.GetValueOrDefault(w) + 1;
            }
        }
    }

    var words = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key).ToArray();
    var cumulative = new double[words.Length];
    double total = 0;
    for (var i = 0; i < words.Length; i++)
    {
        total += 1.0 / (i + 1);
        cumulative[i] = total;
    }

    var rng = new Random(seed);
    var target = megabytes * 1_000_000;
    using var writer = new StreamWriter(output, false, new UTF8Encoding(false), 1 << 20);
    long written = 0;
    var sb = new StringBuilder();
    var paragraph = 0L;
    while (written < target)
    {
        sb.Clear();
        var sentences = rng.Next(2, 8);
        for (var s = 0; s < sentences; s++)
        {
            var n = rng.Next(6, 25);
            for (var k = 0; k < n; k++)
            {
                var idx = Array.BinarySearch(cumulative, rng.NextDouble() * total);
                var word = words[idx < 0 ? Math.Min(~idx, words.Length - 1) : idx];
                sb.Append(k == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : word);
                sb.Append(k == n - 1 ? (rng.Next(5) == 0 ? "; " : ". ") : (rng.Next(12) == 0 ? ", " : " "));
            }
        }

        sb.Append("(¶").Append(paragraph++).Append(")\n\n"); // keeps paragraphs distinct, as real text mostly is
        writer.Write(sb);
        written += Encoding.UTF8.GetByteCount(sb.ToString());
    }

    Console.WriteLine($"generated {written / 1e6:F1} MB from {words.Length} distinct words");
    return 0;
}

// The corpus goes up in a process of its own: the upload is the user's (azcopy, the portal, `pipeline ingest <files>`),
// and the SDK's pooled upload buffers (~70 MB heap at 1 GB) would otherwise sit in the ingest process' RSS.
static async Task<int> UploadAsync(string connection, string dataset, string corpus)
{
    var service = new StorageOptions { ConnectionString = connection }.CreateBlobServiceClient();
    foreach (var c in BlobLayout.AllContainers)
    {
        await service.GetBlobContainerClient(c).CreateIfNotExistsAsync();
    }

    foreach (var file in Directory.GetFiles(corpus).Order(StringComparer.Ordinal))
    {
        await using var stream = File.OpenRead(file);
        await service.GetBlobContainerClient(BlobLayout.Unlabeled).GetBlobClient($"{dataset}/{Path.GetFileName(file)}").UploadAsync(stream, overwrite: true);
    }

    return 0;
}

// Ingests what `upload` put under unlabeled/{dataset}/ (as `pipeline ingest` with no paths does): accept each, then seal.
static async Task<int> IngestAsync(string connection, string dataset, string corpus, int vocabSize, string vocabOut)
{
    var service = new StorageOptions { ConnectionString = connection }.CreateBlobServiceClient();
    var files = Directory.GetFiles(corpus).Order(StringComparer.Ordinal).ToArray();

    // Measure from here. Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM), so start-up is not in it.
    GC.Collect();
    try
    {
        File.WriteAllText("/proc/self/clear_refs", "5");
    }
    catch (IOException)
    {
    }
    catch (UnauthorizedAccessException)
    {
    }

    var process = Process.GetCurrentProcess();
    var cpu0 = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    // RSS_TRACE=1: print each new RSS maximum with the managed heap size, to see which phase holds memory.
    using var sampler = Environment.GetEnvironmentVariable("RSS_TRACE") == "1" ? new Timer(_ =>
    {
        var rss = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        Console.Error.WriteLine(FormattableString.Invariant($"t={clock.Elapsed.TotalSeconds:F1} {rss.Replace("\t", " ")} heap_mb={GC.GetTotalMemory(false) / 1e6:F0} committed_mb={GC.GetGCMemoryInfo().TotalCommittedBytes / 1e6:F0}"));
    }, null, 0, 1000) : null;
    long bytesRead = 0;
    var ingestion = new TextIngestion(service) { BytesRead = n => bytesRead += n };
    var statuses = new List<string>();
    foreach (var file in files)
    {
        var outcome = await ingestion.AcceptBlobAsync(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/{Path.GetFileName(file)}"));
        statuses.Add($"{Path.GetFileName(file)}={outcome.Status}{(outcome.Reason is null ? "" : ":" + outcome.Reason)}");
    }

    var acceptSeconds = clock.Elapsed.TotalSeconds;
    var summary = await ingestion.SealWithSummaryAsync(dataset, "v1", new TextSealOptions { Vocabulary = new WordPieceTrainerOptions { VocabSize = vocabSize } });
    var seconds = clock.Elapsed.TotalSeconds;
    process.Refresh();
    var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
    var vocab = (await service.GetBlobContainerClient(BlobLayout.Datasets).GetBlobClient(BlobPath.Parse(summary.Manifest.Vocab!).Name).DownloadContentAsync()).Value.Content;
    await File.WriteAllBytesAsync(vocabOut, vocab.ToArray());
    Console.WriteLine(string.Join(' ', statuses));
    // What was produced, for checking that a speed change leaves vocab.txt and every shard byte for byte the same.
    var produced = string.Join(' ', new[] { summary.Manifest.VocabSha256! }.Concat(summary.Manifest.TrainShards.Concat(summary.Manifest.ValidationShards).Select(s => s.Sha256)));
    Console.WriteLine($"OUTPUT digest={Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(produced)))} shards={summary.Manifest.TrainShards.Count + summary.Manifest.ValidationShards.Count}");
    Console.WriteLine("seal seconds: " + summary.Manifest.Extra!["sealSeconds"].GetRawText().ReplaceLineEndings(" "));
    Console.WriteLine(FormattableString.Invariant(
        $"INGEST documents={summary.Result.Items} tokens={summary.Tokens} duplicates={summary.DuplicateDocuments} vocab={summary.Manifest.VocabSize} bytes_read={bytesRead} accept_s={acceptSeconds:F1} total_s={seconds:F1} cpu_s={cpu:F1} peak_rss_mb={PeakRssMb():F0} jit_s={System.Runtime.JitInfo.GetCompilationTime().TotalSeconds:F1} jit_methods={System.Runtime.JitInfo.GetCompiledMethodCount()} gc_pause_s={GC.GetTotalPauseDuration().TotalSeconds:F1} gcs={GC.CollectionCount(0)}"));
    return 0;
}

// VmHWM from /proc/self/status (reset after the upload), else the runtime's peak working set.
static double PeakRssMb()
{
    var line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
    return line is null
        ? Process.GetCurrentProcess().PeakWorkingSet64 / 1e6
        : long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024 / 1e6;
}

// Tokenizer-only throughput on the same text: Microsoft.ML.Tokenizers BertTokenizer (the peer) and our
// WordPieceEncoder (normaliser + WordPieceTokenizer), both on ~64 KB chunks cut at line ends, one thread; MB per CPU-second.
static int Tokenize(string vocabPath, long capMegabytes, string[] files)
{
    var bert = BertTokenizer.Create(vocabPath, new BertOptions { LowerCaseBeforeTokenization = true });
    var ours = WordPieceEncoder.LoadFile(vocabPath, TextNormalization.Default);
    var cap = capMegabytes * 1_000_000;
    long bytes = 0, bertTokens = 0, ourTokens = 0;
    // CPU time of this process (one thread encodes), not wall time: the shared machines are loaded.
    var process = Process.GetCurrentProcess();
    TimeSpan bertCpu = default, ourCpu = default;
    var chunk = new StringBuilder();
    void Run()
    {
        // BertTokenizer merges words across \n \t \r (PLATFORM.md): give it spaces, as one would in production.
        var text = chunk.ToString();
        var spaced = text.Replace('\n', ' ').Replace('\r', ' ').Replace('\t', ' ');
        var t0 = process.TotalProcessorTime;
        bertTokens += bert.EncodeToIds(spaced, addSpecialTokens: false).Count;
        var t1 = process.TotalProcessorTime;
        ourTokens += ours.EncodeToIds(text).Length;
        var t2 = process.TotalProcessorTime;
        bertCpu += t1 - t0;
        ourCpu += t2 - t1;
        bytes += Encoding.UTF8.GetByteCount(text);
        chunk.Clear();
    }

    foreach (var file in files)
    {
        using var raw = File.OpenRead(file);
        using Stream stream = file.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(raw, CompressionMode.Decompress) : raw;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (bytes < cap && reader.ReadLine() is { } line)
        {
            chunk.Append(line).Append('\n');
            if (chunk.Length >= 64 * 1024)
            {
                Run();
            }
        }

        if (chunk.Length > 0)
        {
            Run();
        }
    }

    Console.WriteLine(FormattableString.Invariant(
        $"TOKENIZE mb={bytes / 1e6:F1} bert_mb_per_s={bytes / 1e6 / bertCpu.TotalSeconds:F2} bert_tokens={bertTokens} ours_mb_per_s={bytes / 1e6 / ourCpu.TotalSeconds:F2} our_tokens={ourTokens}"));
    return 0;
}

static int Train(string output, int vocabSize, string[] files)
{
    var trainer = new WordPieceTrainer(TextNormalization.Default);
    foreach (var file in files)
    {
        foreach (var line in File.ReadLines(file))
        {
            trainer.Add(line);
        }
    }

    GC.Collect();
    Console.WriteLine($"counted: rss_mb={Process.GetCurrentProcess().WorkingSet64 / 1e6:F0} peak_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} heap_mb={GC.GetTotalMemory(false) / 1e6:F0}");
    var clock = Stopwatch.StartNew();
    var vocab = trainer.Train(new WordPieceTrainerOptions { VocabSize = vocabSize });
    using (var stream = File.Create(output))
    {
        WordPieceTrainer.WriteVocab(vocab, stream);
    }

    Console.WriteLine(FormattableString.Invariant(
        $"TRAIN words={trainer.DistinctWords} vocab={vocab.Count} train_s={clock.Elapsed.TotalSeconds:F1} peak_rss_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0}"));
    return 0;
}

// Per-phase CPU time on local files (no storage): read, hash, normalise, split, count, encode (shared cache), session
// (the single-thread encoder the seal uses).
static int Phases(string vocabPath, string[] files)
{
    var encoder = WordPieceEncoder.LoadFile(vocabPath, TextNormalization.Default);
    var normalizer = new TextNormalizer(TextNormalization.Default);
    var process = Process.GetCurrentProcess();
    foreach (var phase in (Environment.GetEnvironmentVariable("PHASES") ?? "read,hash,normalize,split,count,encode").Split(","))
    {
        var t0 = process.TotalProcessorTime;
        long bytes = 0, n = 0;
        var trainer = new WordPieceTrainer(TextNormalization.Default);
        char[]? scratch = null;
        var ids = new List<int>(1 << 20);
        var session = encoder.CreateSession(); // fresh per phase, as per seal
        foreach (var file in files)
        {
            if (phase == "decode")
            {
                // The floor under "read": the file's bytes to UTF-16 in 64 KB buffers, no lines, documents or hash.
                using var rawFile = File.OpenRead(file);
                using Stream inflated = file.EndsWith(".gz") ? new GZipStream(rawFile, CompressionMode.Decompress) : rawFile;
                using var decoder = new StreamReader(inflated, new UTF8Encoding(false, false), true, 64 * 1024);
                var chars = new char[64 * 1024];
                int got;
                while ((got = decoder.Read(chars, 0, chars.Length)) > 0)
                {
                    n += got;
                }

                bytes += rawFile.Length;
                continue;
            }

            using var raw = File.OpenRead(file);
            var stats = new TextReadStats();
            foreach (var text in TextDocumentReader.Read(raw, TextFormat.PlainText, file.EndsWith(".gz"), new TextReadOptions(), stats))
            {
                switch (phase)
                {
                    case "hash": n += (long)TextIngestion.DocumentHash(text); break;
                    case "normalize": n += normalizer.Normalize(text.AsSpan(), ref scratch).Length; break;
                    case "split":
                        var norm = normalizer.Normalize(text.AsSpan(), ref scratch);
                        var pos = 0;
                        while (BertPreTokenizer.NextWord(norm, ref pos, out _, out _)) n++;
                        break;
                    case "count": trainer.Add(text.AsSpan()); break;
                    case "scan":
                        var sink = new NullSink();
                        WordScanner.Scan(normalizer, text, ref scratch, ref sink);
                        n += sink.Words;
                        break;
                    case "encode": ids.Clear(); encoder.AppendIds(text, ids); n += ids.Count; break;
                    case "session": ids.Clear(); session.AppendIds(text, ids); n += ids.Count; break;
                }
            }
            bytes += stats.RawBytes;
        }
        process.Refresh();
        var cpu = (process.TotalProcessorTime - t0).TotalSeconds;
        Console.WriteLine(FormattableString.Invariant($"PHASE {phase,-10} cpu_s={cpu:F2} mb_per_cpu_s={bytes / 1e6 / cpu:F1} n={n} distinct={trainer.DistinctWords} prune_below={trainer.PruneBelow} pruned_words={trainer.PrunedWords}"));
    }
    return 0;
}

struct NullSink : IWordSink
{
    public long Words;

    public void OnWord(ReadOnlySpan<char> word, int hash) => Words += hash & 1;
}
