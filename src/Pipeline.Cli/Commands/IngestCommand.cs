using System.CommandLine;
using System.Diagnostics;
using Azure.Storage.Blobs;
using Pipeline.Core.Storage;
using Pipeline.Core.Storage.Emulator;
using Pipeline.Core.Text;
using Pipeline.Ingestion;
using Pipeline.Ingestion.Text;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline ingest`: uploads local text files (or takes what is already under unlabeled/{dataset}/), accepts each with
/// <see cref="TextIngestion"/> (quarantine, dedupe) and seals a dataset version: the same services the IngestBlob and
/// Pretrain orchestrations call. Storage: --connection, else PIPELINE_STORAGE_CONNECTION, else a local Azurite.
/// </summary>
public static class IngestCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "Files or folders to upload (none: ingest what is already under unlabeled/{dataset}/).", Arity = ArgumentArity.ZeroOrMore };
        var dataset = new Option<string>("--dataset", "-d") { Description = "Dataset name (the first path segment under unlabeled/).", Required = true };
        var version = new Option<string>("--version") { Description = "Dataset version to seal.", DefaultValueFactory = _ => "v1" };
        var connection = new Option<string?>("--connection") { Description = $"Storage connection string (default: ${StorageOptions.ConnectionStringVariable}, else a local Azurite)." };
        var azuriteData = new Option<string>("--azurite-data") { Description = "Data folder of the local Azurite.", DefaultValueFactory = _ => Path.Combine(".pipeline", "azurite") };
        var textField = new Option<string>("--text-field") { Description = "The text field of .jsonl records.", DefaultValueFactory = _ => "text" };
        var vocabSize = new Option<int>("--vocab-size") { Description = "WordPiece vocabulary size.", DefaultValueFactory = _ => 8000 };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Minimum pair frequency for a merge.", DefaultValueFactory = _ => 2 };
        var validation = new Option<double>("--validation-fraction") { Description = "Share of documents (by content hash) held out for validation.", DefaultValueFactory = _ => 0.05 };
        var vocabFrom = new Option<string?>("--vocab-from") { Description = "Reuse this vocab.txt (container/name) instead of training one." };
        var noSeal = new Option<bool>("--no-seal") { Description = "Only accept the uploads; seal later." };

        var command = new Command("ingest", "Ingest text into a dataset version: validate, quarantine, dedupe, train WordPiece, write shards + manifest.")
        {
            paths, dataset, version, connection, azuriteData, textField, vocabSize, minFrequency, validation, vocabFrom, noSeal,
        };
        command.SetAction(async (parse, ct) =>
        {
            var seal = new TextSealOptions
            {
                Vocabulary = new WordPieceTrainerOptions { VocabSize = parse.GetValue(vocabSize), MinFrequency = parse.GetValue(minFrequency) },
                ValidationFraction = parse.GetValue(validation),
                VocabFrom = parse.GetValue(vocabFrom),
            };
            var accept = new TextIngestionOptions { Read = new TextReadOptions { JsonTextField = parse.GetValue(textField)! } };
            return await RunAsync(parse.GetValue(paths) ?? [], parse.GetValue(dataset)!, parse.GetValue(version)!, parse.GetValue(connection),
                parse.GetValue(azuriteData)!, accept, parse.GetValue(noSeal) ? null : seal, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(
        string[] paths, string dataset, string version, string? connection, string azuriteData, TextIngestionOptions accept, TextSealOptions? seal, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(dataset) || dataset.Contains('/'))
        {
            AnsiConsole.MarkupLine("[red]--dataset must be a single path segment, e.g. 'books'.[/]");
            return 2;
        }

        var files = ExpandPaths(paths);
        if (files is null)
        {
            return 2;
        }

        AzuriteProcess? azurite = null;
        try
        {
            connection ??= Environment.GetEnvironmentVariable(StorageOptions.ConnectionStringVariable);
            if (string.IsNullOrWhiteSpace(connection))
            {
                Directory.CreateDirectory(azuriteData);
                azurite = await AzuriteProcess.StartAsync(dataFolder: Path.GetFullPath(azuriteData), cancellationToken: ct).ConfigureAwait(false);
                connection = azurite.ConnectionString;
                AnsiConsole.MarkupLine($"[grey]Local Azurite on 127.0.0.1:{azurite.BlobPort} (data in {Markup.Escape(azuriteData)})[/]");
            }

            var service = new StorageOptions { ConnectionString = connection }.CreateBlobServiceClient();
            foreach (var container in BlobLayout.AllContainers)
            {
                await service.GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
            }

            return await IngestAsync(service, files, dataset, version, accept, seal, ct).ConfigureAwait(false);
        }
        finally
        {
            if (azurite is not null)
            {
                await azurite.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<int> IngestAsync(
        BlobServiceClient service, List<(string Local, string Relative)> files, string dataset, string version, TextIngestionOptions accept,
        TextSealOptions? seal, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        long bytesRead = 0;
        var ingestion = new TextIngestion(service, accept) { BytesRead = n => Interlocked.Add(ref bytesRead, n) };
        var outcomes = new List<(string Upload, BlobIngestOutcome Outcome)>();
        TextSealSummary? summary = null;
        var unlabeled = service.GetBlobContainerClient(BlobLayout.Unlabeled);

        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var uploads = new List<BlobPath>();
                if (files.Count > 0)
                {
                    var total = files.Sum(f => new FileInfo(f.Local).Length);
                    var task = ctx.AddTask($"upload {files.Count} files", maxValue: Math.Max(1, total));
                    foreach (var (local, relative) in files)
                    {
                        var path = new BlobPath(BlobLayout.Unlabeled, $"{dataset}/{relative}");
                        await using var stream = File.OpenRead(local);
                        await unlabeled.GetBlobClient(path.Name).UploadAsync(stream, overwrite: true, ct).ConfigureAwait(false);
                        uploads.Add(path);
                        task.Increment(new FileInfo(local).Length);
                    }
                }
                else
                {
                    await foreach (var item in unlabeled.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, $"{dataset}/", ct).ConfigureAwait(false))
                    {
                        uploads.Add(new BlobPath(BlobLayout.Unlabeled, item.Name));
                    }
                }

                var acceptTask = ctx.AddTask($"accept {uploads.Count} uploads", maxValue: Math.Max(1, uploads.Count));
                foreach (var upload in uploads)
                {
                    outcomes.Add((upload.ToString(), await ingestion.AcceptBlobAsync(upload, ct).ConfigureAwait(false)));
                    acceptTask.Increment(1);
                }

                if (seal is not null && outcomes.Any(o => o.Outcome.Status == BlobIngestOutcome.Statuses.Accepted))
                {
                    var sealTask = ctx.AddTask($"seal {dataset}/{version} (vocab + shards)").IsIndeterminate();
                    summary = await ingestion.SealWithSummaryAsync(dataset, version, seal, ct).ConfigureAwait(false);
                    sealTask.IsIndeterminate(false).Value(100);
                }
            }).ConfigureAwait(false);

        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
        var outcomeTable = new Table().AddColumns("upload", "status", "reason / duplicate of");
        foreach (var (upload, outcome) in outcomes.Where(o => o.Outcome.Status != BlobIngestOutcome.Statuses.Accepted))
        {
            outcomeTable.AddRow(Markup.Escape(upload), outcome.Status, Markup.Escape(outcome.Reason ?? outcome.DuplicateOf ?? ""));
        }

        if (outcomeTable.Rows.Count > 0)
        {
            AnsiConsole.Write(outcomeTable);
        }

        var mb = bytesRead / 1e6;
        var table = new Table().AddColumns("metric", "value");
        table.AddRow("uploads accepted", outcomes.Count(o => o.Outcome.Status == BlobIngestOutcome.Statuses.Accepted).ToString());
        table.AddRow("uploads duplicate", outcomes.Count(o => o.Outcome.Status == BlobIngestOutcome.Statuses.Duplicate).ToString());
        table.AddRow("uploads quarantined", outcomes.Count(o => o.Outcome.Status == BlobIngestOutcome.Statuses.Quarantined).ToString());
        if (summary is not null)
        {
            table.AddRow("documents (train / validation)", $"{summary.Result.Items} ({summary.Result.TrainItems} / {summary.Result.ValidationItems})");
            table.AddRow("tokens", summary.Tokens.ToString("N0"));
            table.AddRow("duplicate documents dropped", summary.DuplicateDocuments.ToString());
            table.AddRow("quarantined in dataset", summary.QuarantinedUploads.ToString());
            table.AddRow("vocabulary", $"{summary.Manifest.VocabSize} ({Markup.Escape(summary.Manifest.Vocab ?? "")})");
            table.AddRow("manifest", Markup.Escape(summary.Result.Manifest.ToString()));
        }

        table.AddRow("bytes read (all passes)", $"{mb:F1} MB");
        table.AddRow("throughput", $"{mb / seconds:F1} MB/s wall, {mb / Math.Max(cpu, 1e-9):F1} MB per CPU-second");
        table.AddRow("peak RSS", $"{Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} MB");
        AnsiConsole.Write(table);

        // One machine-readable line for scripts (bench/ingest-text/run).
        Console.WriteLine(FormattableString.Invariant(
            $"INGEST bytes_read={bytesRead} seconds={seconds:F2} cpu_seconds={cpu:F2} documents={summary?.Result.Items ?? 0} tokens={summary?.Tokens ?? 0} peak_rss_mb={Process.GetCurrentProcess().PeakWorkingSet64 / 1e6:F0} manifest={summary?.Result.Manifest.ToString() ?? "-"}"));
        return 0;
    }

    private static List<(string Local, string Relative)>? ExpandPaths(string[] paths)
    {
        var files = new List<(string, string)>();
        foreach (var path in paths)
        {
            if (File.Exists(path))
            {
                files.Add((path, Path.GetFileName(path)));
            }
            else if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    files.Add((file, Path.GetRelativePath(path, file).Replace(Path.DirectorySeparatorChar, '/')));
                }
            }
            else
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(path)} does not exist.[/]");
                return null;
            }
        }

        return files;
    }
}
