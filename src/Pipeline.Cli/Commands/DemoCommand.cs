using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Pipeline.Core;
using Pipeline.Core.Storage;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Hosting;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline demo`: the whole path on the small real samples shipped in the repo (src/Pipeline.Evaluation/Samples,
/// notices in Samples/NOTICE.md). Starts the local host (Azurite included); text: uploads about 6,000 WordNet glosses
/// as the unlabelled corpus (plus one empty and one binary file, which are quarantined) and the labelled gloss sample
/// (8 noun lexnames) to labeled/{dataset}/, seals by marker blob, waits for ingest -> MLM training (child process) ->
/// export + parity -> downstream evaluation (linear probes vs random-init and TF-IDF) -> publish, prints the
/// data-efficiency table and calls the served endpoints (embed, similarity, fill-mask, classify).
/// </summary>
public static class DemoCommand
{
    /// <summary>The unlabelled dataset (and labelled task) name the text part uses.</summary>
    public const string TextDataset = Samples.WordNetCorpus;

    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder for Azurite's data and trainer logs (default: a fresh temporary folder)." };
        var steps = new Option<int>("--steps") { Description = "MLM training steps (at most; --train-minutes may stop it first).", DefaultValueFactory = _ => 400 };
        var minutes = new Option<double>("--train-minutes") { Description = "Wall-clock limit of the MLM training job.", DefaultValueFactory = _ => 2.5 };
        var threads = new Option<int>("--threads") { Description = "libtorch threads in the trainer.", DefaultValueFactory = _ => 2 };
        var timeout = new Option<int>("--timeout-minutes") { Description = "Give up after this long.", DefaultValueFactory = _ => 15 };
        var command = new Command("demo", "Run the local pipeline end to end on the shipped WordNet gloss samples, print the data-efficiency table and call the published model.")
        {
            data, steps, minutes, threads, timeout,
        };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(data), parse.GetValue(steps), parse.GetValue(minutes), parse.GetValue(threads), parse.GetValue(timeout), ct));
        return command;
    }

    private static async Task<int> RunAsync(string? data, int steps, double minutes, int threads, int timeoutMinutes, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromMinutes(timeoutMinutes));
        var folder = data is null ? Path.Combine(Path.GetTempPath(), $"pipeline-demo-{Environment.ProcessId}") : Path.GetFullPath(data);
        var clock = Stopwatch.StartNew();
        AnsiConsole.MarkupLine($"[grey]Sample data: WordNet 3.0 (Princeton University) and Fashion-MNIST (Zalando SE, MIT); notices in {Markup.Escape(Samples.Notice)}[/]");
        await using var host = await AnsiConsole.Status().StartAsync("Starting the local host (Azurite, Durable engine, HTTP)...", _ =>
            LocalPipelineHost.StartAsync(new LocalHostOptions
            {
                DataFolder = folder,
                Pipeline = DemoDefaults.GlossPipeline(steps, minutes, threads),
                WatchInterval = TimeSpan.FromSeconds(1),
                LogLevel = LogLevel.Error,
            }, cts.Token));
        AnsiConsole.MarkupLine($"Local host on [link]{host.BaseAddress}[/] (data in {Markup.Escape(folder)})");

        var code = await RunTextAsync(host, clock, cts.Token);
        AnsiConsole.MarkupLine(code == 0 ? $"[green]Done in {clock.Elapsed:mm\\:ss}.[/]" : $"[red]Failed after {clock.Elapsed:mm\\:ss}.[/]");
        await host.StopAsync();
        return code;
    }

    /// <summary>The text half: WordNet glosses -> MLM encoder -> probe report -> served endpoints.</summary>
    private static async Task<int> RunTextAsync(LocalPipelineHost host, Stopwatch clock, CancellationToken ct)
    {
        const string dataset = TextDataset;
        AnsiConsole.Write(new Rule("[bold]Text: WordNet glosses[/]").LeftJustified());

        // Labelled data goes to its own container first; pretraining never reads labeled/.
        var labeledSample = Samples.Labeled(Samples.WordNetTask);
        await LabeledDataLoader.UploadAsync(host.Blobs, labeledSample, dataset, ct);
        var labeled = LabeledDataLoader.Load(labeledSample, dataset);
        AnsiConsole.MarkupLine($"Uploaded the labelled sample ({labeled.ClassNames.Count} noun lexnames, {labeled.Train.Count} train / {labeled.Test.Count} test glosses) to [bold]{BlobLayout.Labeled}/{dataset}/[/]");

        var unlabeled = host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        var corpus = Path.Combine(Samples.Unlabeled(Samples.WordNetCorpus), "glosses.txt");
        await unlabeled.GetBlobClient($"{dataset}/glosses.txt").UploadAsync(corpus, overwrite: true, ct);
        await unlabeled.GetBlobClient($"{dataset}/empty.txt").UploadAsync(BinaryData.FromBytes([]), overwrite: true, ct);
        await unlabeled.GetBlobClient($"{dataset}/noise.txt").UploadAsync(BinaryData.FromBytes(Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 % 256)).ToArray()), overwrite: true, ct);
        var glosses = File.ReadLines(corpus).Count(l => l.Length > 0);
        AnsiConsole.MarkupLine($"Uploaded {glosses:N0} unlabelled glosses ({new FileInfo(corpus).Length / 1024} KB), 1 empty and 1 binary file to [bold]{BlobLayout.Unlabeled}/{dataset}/[/]");

        await AnsiConsole.Status().StartAsync("Ingesting (the watcher starts one IngestBlob per upload)...", async _ =>
        {
            while (await CountAsync(host, $"{dataset}/index/", BlobLayout.Datasets, ct) < 1 || await CountAsync(host, $"{dataset}/", BlobLayout.Quarantine, ct) < 4)
            {
                await Task.Delay(500, ct);
            }
        });
        AnsiConsole.MarkupLine($"Ingested: glosses.txt accepted, 2 files quarantined with a reason (see {BlobLayout.Quarantine}/)");

        await unlabeled.GetBlobClient(SealMarker.For(dataset).Name).UploadAsync(BinaryData.FromString("seal"), overwrite: true, ct);
        var instanceId = IngestInstanceIds.ForPretrain(dataset, "1");
        RunStatus? status = null;
        await AnsiConsole.Status().StartAsync("Sealed by marker; training (child process), exporting, checking parity, evaluating, publishing...", async ctx =>
        {
            while (true)
            {
                status = await host.Api.StatusAsync(instanceId, ct) ?? status;
                if (status is { IsFinished: true })
                {
                    break;
                }

                if (status?.ReadCustomStatus<RunProgress>() is { } progress)
                {
                    ctx.Status($"Run {instanceId}: {progress.Stage} ({clock.Elapsed:mm\\:ss})");
                }

                await Task.Delay(1000, ct);
            }
        });

        if (status!.RuntimeStatus != "Completed")
        {
            AnsiConsole.MarkupLine($"[red]Run {instanceId} {status.RuntimeStatus}: {Markup.Escape(status.Failure ?? "")}[/]");
            return 1;
        }

        var result = status.ReadOutput<PretrainResult>()!;
        var job = result.Jobs.Single(j => j.JobId == result.BestJobPerObjective["mlm"]);
        AnsiConsole.MarkupLine($"Trained [bold]{job.JobId}[/]: {job.Summary!.Steps} steps, {job.Summary.ValidationMetric} = {job.Summary.ValidationValue:F3}");
        var outcome = result.Published.FirstOrDefault(p => p.Published);
        if (outcome?.Model is not { } model)
        {
            AnsiConsole.MarkupLine($"[red]Nothing was published: {Markup.Escape(string.Join("; ", result.Published.Select(p => p.Detail)))}[/]");
            return 1;
        }

        AnsiConsole.MarkupLine($"Parity: {Markup.Escape(outcome.Parity!.Detail)}");
        AnsiConsole.MarkupLine($"Evaluation: {Markup.Escape(outcome.Evaluation?.Detail ?? "none")}");
        var report = await ReadReportAsync(host, result.RunId, job.JobId, ct);
        if (report is null)
        {
            AnsiConsole.MarkupLine($"[red]No data-efficiency report under {BlobLayout.Runs}/{Markup.Escape(BlobLayout.RunJobPrefix(result.RunId, job.JobId))}evaluation/[/]");
            return 1;
        }

        AnsiConsole.Write(EvalCommand.Table(report));
        AnsiConsole.MarkupLine($"Published [green]{model.Name} v{model.Version}[/] to [bold]{model.Prefix}[/] (model card with this table and data-efficiency.png; latest.json {(model.Promoted ? "moved" : "not moved: " + Markup.Escape(model.NotPromotedReason ?? ""))})");

        return await CallTextEndpointsAsync(host, model.Name, labeled, ct);
    }

    /// <summary>runs/{runId}/{jobId}/evaluation/metrics.json's full report, written by the publish step's evaluation.</summary>
    private static async Task<DataEfficiencyReport?> ReadReportAsync(LocalPipelineHost host, string runId, string jobId, CancellationToken ct)
    {
        var blob = host.Blobs.GetBlobContainerClient(BlobLayout.Runs).GetBlobClient($"{BlobLayout.RunJobPrefix(runId, jobId)}evaluation/{DataEfficiencyArtifacts.MetricsFile}");
        if (!await blob.ExistsAsync(ct))
        {
            return null;
        }

        var metrics = JsonNode.Parse((await blob.DownloadContentAsync(ct)).Value.Content.ToString());
        return metrics?["dataEfficiency"]?.Deserialize<DataEfficiencyReport>(PipelineJson.Options);
    }

    private static async Task<int> CallTextEndpointsAsync(LocalPipelineHost host, string model, LabeledDataset labeled, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        var inv = CultureInfo.InvariantCulture;

        var texts = new[] { "a small tree with white flowers", "a person who repairs shoes" };
        if (await PostAsync(http, $"api/models/{model}/embed", new { texts }, ct) is not { } embed)
        {
            return 1;
        }

        var vectors = embed.GetProperty("embeddings");
        var head = string.Join(", ", vectors[0].EnumerateArray().Take(5).Select(v => v.GetSingle().ToString("F3", inv)));
        AnsiConsole.MarkupLine($"POST api/models/{model}/embed -> {vectors.GetArrayLength()} vectors of {vectors[0].GetArrayLength()} dims; \"{texts[0]}\" -> [[{head}, ...]]");

        var query = "a large wild cat";
        var candidates = new[] { "a tall plant with a woody trunk", "a carnivorous mammal of the forest", "a document stating a debt", "a period of seven days" };
        if (await PostAsync(http, $"api/models/{model}/similarity", new { query, candidates }, ct) is not { } similar)
        {
            return 1;
        }

        var best = similar.GetProperty("results")[0];
        AnsiConsole.MarkupLine($"POST api/models/{model}/similarity \"{query}\" -> best: \"{Markup.Escape(best.GetProperty("text").GetString()!)}\" ({best.GetProperty("score").GetSingle().ToString("F3", inv)})");

        var masked = "a young [MASK] that is kept as a pet";
        if (await PostAsync(http, $"api/models/{model}/fill-mask", new { text = masked, topK = 5 }, ct) is not { } fill)
        {
            return 1;
        }

        var tokens = fill.GetProperty("masks")[0].GetProperty("candidates").EnumerateArray().Select(c => c.GetProperty("token").GetString());
        AnsiConsole.MarkupLine($"POST api/models/{model}/fill-mask \"{Markup.Escape(masked)}\" -> {Markup.Escape(string.Join(", ", tokens))}");

        // The probe head published as classifier.json, on test glosses the probe never saw.
        var tests = Enumerable.Range(0, labeled.Test.Count).Take(4).ToArray();
        if (await PostAsync(http, $"api/models/{model}/classify", new { texts = tests.Select(i => labeled.Test.Texts![i]).ToArray() }, ct) is not { } classify)
        {
            return 1;
        }

        var predictions = classify.GetProperty("predictions");
        var table = new Table().Title($"POST api/models/{model}/classify (test glosses)").AddColumns("gloss", "predicted", "true");
        for (var i = 0; i < tests.Length; i++)
        {
            var text = labeled.Test.Texts![tests[i]];
            var p = predictions[i];
            table.AddRow(
                Markup.Escape(text.Length > 60 ? text[..57] + "..." : text),
                $"{Markup.Escape(p.GetProperty("label").GetString()!)} ({p.GetProperty("score").GetSingle().ToString("F2", inv)})",
                Markup.Escape(labeled.ClassNames[labeled.Test.Labels[tests[i]]]));
        }

        AnsiConsole.Write(table);
        return 0;
    }

    private static async Task<JsonElement?> PostAsync(HttpClient http, string path, object body, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(path, body, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            AnsiConsole.MarkupLine($"[red]POST {Markup.Escape(path)}: {(int)response.StatusCode} {Markup.Escape(text)}[/]");
            return null;
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<int> CountAsync(LocalPipelineHost host, string prefix, string container, CancellationToken ct)
    {
        var n = 0;
        await foreach (var _ in host.Blobs.GetBlobContainerClient(container).GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, prefix, ct))
        {
            n++;
        }

        return n;
    }
}
