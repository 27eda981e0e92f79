using System.CommandLine;
using System.Globalization;
using Azure.Storage.Blobs;
using Pipeline.Core.Registry;
using Pipeline.Core.Storage;
using Pipeline.Core.Storage.Emulator;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline eval`: the data-efficiency report for an encoder — a published model (models/{name}/{version}) or a local
/// folder (job output) — on a labelled task (a local folder, a shipped sample, or labeled/{task}/ in storage): linear
/// probes at each label budget for the pretrained encoder, its random initialisation and the raw-feature baseline.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Published model: name or name@version (latest when no version)." };
        var modelDir = new Option<string?>("--model-dir") { Description = "Local folder with encoder.onnx (+ encoder-random.onnx, vocab.txt/config.json or preprocessing.json)." };
        var labels = new Option<string>("--labels", "-l")
        {
            Description = $"Labelled task: a local folder, 'sample:{Samples.WordNetTask}' / 'sample:{Samples.FashionMnistTask}', or a task name under {BlobLayout.Labeled}/.",
            Required = true,
        };
        var budgets = new Option<string>("--budgets", "-b") { Description = "Comma-separated label budgets: '1%', '10%', 'all', '50/class'.", DefaultValueFactory = _ => "1%,10%" };
        var draws = new Option<int>("--draws") { Description = "Seeded label draws per budget (mean ± std over them).", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the label draws.", DefaultValueFactory = _ => 17 };
        var maxTrain = new Option<int?>("--max-train") { Description = "Use at most this many labelled training examples (stratified subsample)." };
        var maxTest = new Option<int?>("--max-test") { Description = "Use at most this many test examples (stratified subsample)." };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime threads for embedding.", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--out", "-o") { Description = "Where metrics.json, data-efficiency.png/.md and classifier.json go (default .pipeline/eval/{task})." };
        var connection = new Option<string?>("--connection") { Description = $"Storage connection string (default: ${StorageOptions.ConnectionStringVariable}, else a local Azurite)." };
        var azuriteData = new Option<string>("--azurite-data") { Description = "Data folder of the local Azurite.", DefaultValueFactory = _ => Path.Combine(".pipeline", "azurite") };

        var command = new Command("eval", "Data-efficiency report: linear probe on frozen embeddings at several label budgets, vs random-init and raw-feature baselines.")
        {
            model, modelDir, labels, budgets, draws, seed, maxTrain, maxTest, threads, output, connection, azuriteData,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new DataEfficiencyOptions
            {
                Budgets = [.. parse.GetValue(budgets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
                Draws = parse.GetValue(draws),
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
            };
            try
            {
                options.Validate();
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
                return 2;
            }

            if (parse.GetValue(model) is null == (parse.GetValue(modelDir) is null))
            {
                AnsiConsole.MarkupLine("[red]Give exactly one of --model (published) or --model-dir (local folder).[/]");
                return 2;
            }

            return await RunAsync(parse.GetValue(model), parse.GetValue(modelDir), parse.GetValue(labels)!, options, parse.GetValue(maxTrain), parse.GetValue(maxTest),
                parse.GetValue(output), parse.GetValue(connection), parse.GetValue(azuriteData)!, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(
        string? model, string? modelDir, string labels, DataEfficiencyOptions options, int? maxTrain, int? maxTest, string? output, string? connection,
        string azuriteData, CancellationToken ct)
    {
        var needsStorage = model is not null || !(Directory.Exists(labels) || labels.StartsWith("sample:", StringComparison.Ordinal));
        AzuriteProcess? azurite = null;
        var scratch = Path.Combine(Path.GetTempPath(), $"pipeline-eval-{Guid.NewGuid():N}");
        try
        {
            BlobServiceClient? service = null;
            if (needsStorage)
            {
                connection ??= Environment.GetEnvironmentVariable(StorageOptions.ConnectionStringVariable);
                if (string.IsNullOrWhiteSpace(connection))
                {
                    Directory.CreateDirectory(azuriteData);
                    azurite = await AzuriteProcess.StartAsync(dataFolder: Path.GetFullPath(azuriteData), cancellationToken: ct).ConfigureAwait(false);
                    connection = azurite.ConnectionString;
                    AnsiConsole.MarkupLine($"[grey]Local Azurite on 127.0.0.1:{azurite.BlobPort} (data in {Markup.Escape(azuriteData)})[/]");
                }

                service = new StorageOptions { ConnectionString = connection }.CreateBlobServiceClient();
            }

            LabeledDataset data;
            if (labels.StartsWith("sample:", StringComparison.Ordinal))
            {
                data = LabeledDataLoader.Load(Samples.Labeled(labels["sample:".Length..]), labels["sample:".Length..]);
            }
            else if (Directory.Exists(labels))
            {
                data = LabeledDataLoader.Load(labels);
            }
            else
            {
                data = await LabeledDataLoader.DownloadAsync(service!, labels, Path.Combine(scratch, "labeled"), ct).ConfigureAwait(false);
            }

            data = data.Subsample(maxTrain, maxTest);
            var modelLabel = modelDir ?? model!;
            if (model is not null)
            {
                var at = model.IndexOf('@', StringComparison.Ordinal);
                var registry = new ModelRegistry(service!);
                var resolved = await registry.ResolveAsync(at < 0 ? model : model[..at], at < 0 ? null : model[(at + 1)..], ct).ConfigureAwait(false);
                modelDir = await registry.DownloadAsync(resolved, Path.Combine(scratch, "model"), ct).ConfigureAwait(false);
                modelLabel = $"{resolved.Name} v{resolved.Version}";
            }

            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(modelLabel)}[/] on [bold]{Markup.Escape(data.Task)}[/] ({data.Modality.ToString().ToLowerInvariant()}, {data.ClassNames.Count} classes, {data.Train.Count} train / {data.Test.Count} test)");
            DataEfficiencyResult? result = null;
            await AnsiConsole.Status().StartAsync("embedding and probing", async status =>
            {
                var progress = new Progress<string>(line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"));
                result = await Task.Run(() => new DataEfficiencyEvaluator(options).Evaluate(data, modelDir!, progress), ct).ConfigureAwait(false);
            }).ConfigureAwait(false);

            output ??= Path.Combine(".pipeline", "eval", data.Task);
            var files = DataEfficiencyArtifacts.Write(result!, output);
            AnsiConsole.Write(Table(result!.Report));
            AnsiConsole.MarkupLine($"[grey]wrote {Markup.Escape(string.Join(", ", files.Keys))} to {Markup.Escape(Path.GetFullPath(output))}[/]");

            // One machine-readable line for scripts (bench/data-efficiency/run).
            Console.WriteLine("EVAL task=" + data.Task + " " + string.Join(' ', result.Report.Results.Select(r =>
                string.Create(CultureInfo.InvariantCulture, $"{r.BudgetKey}_{r.Encoder.Replace('-', '_')}={r.Mean:F4}±{r.Std:F4}"))));
            return 0;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ModelNotFoundException)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return 1;
        }
        finally
        {
            if (azurite is not null)
            {
                await azurite.DisposeAsync().ConfigureAwait(false);
            }

            if (Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
    }

    /// <summary>Mean ± std test accuracy (%) per budget (rows) and encoder (columns), the best of each row in bold.</summary>
    public static Table Table(DataEfficiencyReport report)
    {
        var table = new Table().Title($"linear probe test accuracy, {report.Draws} draws (mean ± std %)").AddColumn("labels");
        foreach (var encoder in report.Encoders)
        {
            table.AddColumn(new TableColumn(encoder).RightAligned());
        }

        foreach (var budget in report.Results.Select(r => (r.BudgetKey, r.Budget, r.Labels)).Distinct())
        {
            var row = report.Encoders.Select(e => report.Find(e, budget.BudgetKey)).ToArray();
            var best = row.Max(r => r?.Mean ?? 0);
            table.AddRow([
                $"{budget.Budget} ({budget.Labels})",
                .. row.Select(r => r is null ? "–" : string.Create(CultureInfo.InvariantCulture, $"{(r.Mean == best ? "[bold green]" : "")}{r.Mean * 100:0.0} ± {r.Std * 100:0.0}{(r.Mean == best ? "[/]" : "")}")),
            ]);
        }

        return table;
    }
}
