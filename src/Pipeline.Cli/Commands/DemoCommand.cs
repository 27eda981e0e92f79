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
using Pipeline.Ingestion.Images;
using Pipeline.Ingestion.Quarantine;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Hosting;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline demo`: the whole path on the small real samples shipped in the repo (src/Pipeline.Evaluation/Samples,
/// notices in Samples/NOTICE.md), one local host (Azurite included) for both halves, one after the other (each trainer
/// gets both cores).
/// Text: uploads about 6,000 WordNet glosses as the unlabelled corpus (plus one empty and one binary file, which are
/// quarantined) and the labelled gloss sample (8 noun lexnames) to labeled/{dataset}/, seals by marker blob, waits for
/// ingest -> MLM training (child process) -> export + parity -> downstream evaluation (linear probes vs random-init and
/// TF-IDF) -> publish, prints the data-efficiency table and calls embed, similarity, fill-mask and classify.
/// Images: uploads 500 unlabelled Fashion-MNIST images as individual PNG blobs (plus one truncated PNG, which is
/// quarantined) and the labelled sample (2,000 train / 500 test, 10 classes) to labeled/{dataset}/, seals, waits for
/// ingest -> SimCLR training of a small CNN -> export + parity -> evaluation (linear probes vs random-init and pixels)
/// -> publish, prints the table and calls embed-image and classify.
/// </summary>
public static class DemoCommand
{
    /// <summary>The unlabelled dataset (and labelled task) name the text part uses.</summary>
    public const string TextDataset = Samples.WordNetCorpus;

    /// <summary>The unlabelled dataset (and labelled task) name the image part uses.</summary>
    public const string ImageDataset = DemoDefaults.ImageDataset;

    /// <summary>Unlabelled images the demo uploads by default.</summary>
    public const int DefaultImages = 500;

    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder for Azurite's data and trainer logs (default: a fresh temporary folder)." };
        var part = new Option<string>("--part") { Description = "Which half to run: both, text or image.", DefaultValueFactory = _ => "both" };
        part.AcceptOnlyFromAmong("both", "text", "image");
        var steps = new Option<int>("--steps") { Description = "Cap on MLM training steps (the job normally runs for --train-minutes, its learning rate decaying over that budget).", DefaultValueFactory = _ => 100_000 };
        var minutes = new Option<double>("--train-minutes") { Description = "Wall-clock budget of the MLM training job (its learning rate decays over it).", DefaultValueFactory = _ => 2.5 };
        var imageMinutes = new Option<double>("--image-minutes") { Description = "Wall-clock budget of the SimCLR training job (its learning rate decays over it).", DefaultValueFactory = _ => 2.0 };
        var imageCount = new Option<int>("--images") { Description = "Unlabelled images to upload from the shipped pool (each upload is one IngestBlob orchestration).", DefaultValueFactory = _ => DefaultImages };
        var threads = new Option<int>("--threads") { Description = "libtorch threads in the trainer.", DefaultValueFactory = _ => 2 };
        var timeout = new Option<int>("--timeout-minutes") { Description = "Give up after this long.", DefaultValueFactory = _ => 20 };
        var command = new Command("demo", "Run the local pipeline end to end on the shipped WordNet gloss and Fashion-MNIST samples, print the data-efficiency tables and call the published models.")
        {
            data, part, steps, minutes, imageMinutes, imageCount, threads, timeout,
        };
        command.SetAction((parse, ct) => RunAsync(
            parse.GetValue(data), parse.GetValue(part)!, parse.GetValue(steps), parse.GetValue(minutes), parse.GetValue(imageMinutes),
            parse.GetValue(imageCount), parse.GetValue(threads), parse.GetValue(timeout), ct));
        return command;
    }

    private static async Task<int> RunAsync(string? data, string part, int steps, double minutes, double imageMinutes, int imageCount, int threads, int timeoutMinutes, CancellationToken ct)
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
                Pipeline = DemoDefaults.SamplesPipeline(steps, minutes, imageMinutes, threads),
                WatchInterval = TimeSpan.FromSeconds(1),
                LogLevel = LogLevel.Error,
            }, cts.Token));
        AnsiConsole.MarkupLine($"Local host on [link]{host.BaseAddress}[/] (data in {Markup.Escape(folder)})");

        var code = 0;
        if (part is "both" or "text")
        {
            code = await RunTextAsync(host, clock, cts.Token);
        }

        if (code == 0 && part is "both" or "image")
        {
            code = await RunImageAsync(host, imageCount, clock, cts.Token);
        }

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

        if (await SealAndWaitAsync(host, dataset, "mlm", clock, ct) is not { } run)
        {
            return 1;
        }

        var (job, model) = (run.Job, run.Model);
        AnsiConsole.MarkupLine($"Trained [bold]{job.JobId}[/]: {job.Summary!.Steps} steps, {job.Summary.ValidationMetric} = {job.Summary.ValidationValue:F3}");
        PrintPublished(run);
        return await CallTextEndpointsAsync(host, model.Name, labeled, ct);
    }

    /// <summary>The image half: Fashion-MNIST PNGs -> SimCLR encoder -> probe report -> served endpoints.</summary>
    private static async Task<int> RunImageAsync(LocalPipelineHost host, int count, Stopwatch clock, CancellationToken ct)
    {
        const string dataset = ImageDataset;
        AnsiConsole.Write(new Rule("[bold]Images: Fashion-MNIST[/]").LeftJustified());

        // Labelled images go to labeled/{dataset}/ only: the evaluation and the trainer's kNN monitor read them, the
        // SimCLR objective never does.
        var labeledSample = Samples.Labeled(Samples.FashionMnistTask);
        await LabeledDataLoader.UploadAsync(host.Blobs, labeledSample, dataset, ct);
        var labeled = LabeledDataLoader.Load(labeledSample, dataset);
        AnsiConsole.MarkupLine($"Uploaded the labelled sample ({labeled.ClassNames.Count} classes, {labeled.Train.Count:N0} train / {labeled.Test.Count} test images) to [bold]{BlobLayout.Labeled}/{dataset}/[/]");

        // The unlabelled pool is an images-only IDX file (no labels shipped with it), uploaded the way a user would:
        // one PNG blob per image.
        var pool = Path.Combine(Samples.Unlabeled(Samples.FashionMnistPool), Samples.FashionMnistPoolFile);
        var (rows, cols, images) = IdxImages.Read(pool, count);
        var distinct = images.Select(i => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(i))).Distinct().Count();
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask($"PNG uploads to {BlobLayout.Unlabeled}/{dataset}/", maxValue: images.Count);
            await IdxImages.UploadAsync(host.Blobs, dataset, "img-", rows, cols, images, progress: new Progress<int>(done => task.Value = done), cancellationToken: ct);
            task.Value = images.Count;
        });

        // One bad upload: a PNG cut off after its header, which decodes to nothing and goes to quarantine with a reason.
        var png = IdxImages.EncodePng(images[0], rows, cols);
        var unlabeled = host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        await unlabeled.GetBlobClient($"{dataset}/truncated.png").UploadAsync(BinaryData.FromBytes(png.AsMemory(0, png.Length / 3)), overwrite: true, ct);
        AnsiConsole.MarkupLine($"Uploaded {images.Count:N0} unlabelled {rows}x{cols} PNGs and 1 truncated PNG to [bold]{BlobLayout.Unlabeled}/{dataset}/[/]");

        var ingest = Stopwatch.StartNew();
        await AnsiConsole.Status().StartAsync("Ingesting (the watcher starts one IngestBlob per upload)...", async ctx =>
        {
            while (true)
            {
                var accepted = await CountAsync(host, $"{dataset}/index/", BlobLayout.Datasets, ct);
                if (accepted >= distinct && await CountAsync(host, $"{dataset}/", BlobLayout.Quarantine, ct) >= 2)
                {
                    break;
                }

                ctx.Status($"Ingesting (the watcher starts one IngestBlob per upload): {accepted:N0} of {images.Count:N0} accepted ({ingest.Elapsed.TotalSeconds:F0} s)");
                await Task.Delay(2000, ct);
            }
        });
        var reason = await new QuarantineStore(host.Blobs).ReadReasonAsync(dataset, "truncated.png", ct);
        AnsiConsole.MarkupLine($"Ingested in {ingest.Elapsed.TotalSeconds:F0} s: {distinct:N0} images accepted; truncated.png quarantined ({Markup.Escape(reason?.Code ?? "?")}: {Markup.Escape(reason?.Message ?? "")})");

        if (await SealAndWaitAsync(host, dataset, "simclr", clock, ct) is not { } run)
        {
            return 1;
        }

        var (job, model) = (run.Job, run.Model);
        var metrics = job.Summary!.Metrics;
        var knn = metrics.TryGetValue("knn_accuracy", out var k) && metrics.TryGetValue("knn_accuracy_initial", out var k0)
            ? $"; kNN accuracy on {BlobLayout.Labeled}/{dataset}/ {k0:P1} at initialisation -> {k:P1}"
            : "";
        AnsiConsole.MarkupLine($"Trained [bold]{job.JobId}[/]: {job.Summary.Steps} steps, {job.Summary.ValidationMetric} = {job.Summary.ValidationValue:F3}{knn}");
        PrintPublished(run);
        return await CallImageEndpointsAsync(host, model.Name, labeled, ct);
    }

    /// <summary>What one finished run produced: the best job of the objective, its published model and its report.</summary>
    private sealed record DemoRun(TrainingJobOutcome Job, PublishedModel Model, DataEfficiencyReport Report, PublishOutcome Outcome);

    /// <summary>Seals the dataset by marker blob and waits for its Pretrain run; null (after saying why) when it failed.</summary>
    private static async Task<DemoRun?> SealAndWaitAsync(LocalPipelineHost host, string dataset, string objective, Stopwatch clock, CancellationToken ct)
    {
        await host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled).GetBlobClient(SealMarker.For(dataset).Name).UploadAsync(BinaryData.FromString("seal"), overwrite: true, ct);
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
            return null;
        }

        var result = status.ReadOutput<PretrainResult>()!;
        var job = result.Jobs.Single(j => j.JobId == result.BestJobPerObjective[objective]);
        var outcome = result.Published.FirstOrDefault(p => p.Published);
        if (outcome?.Model is not { } model)
        {
            AnsiConsole.MarkupLine($"[red]Nothing was published: {Markup.Escape(string.Join("; ", result.Published.Select(p => p.Detail)))}[/]");
            return null;
        }

        var report = await ReadReportAsync(host, result.RunId, job.JobId, ct);
        if (report is null)
        {
            AnsiConsole.MarkupLine($"[red]No data-efficiency report under {BlobLayout.Runs}/{Markup.Escape(BlobLayout.RunJobPrefix(result.RunId, job.JobId))}evaluation/[/]");
            return null;
        }

        return new DemoRun(job, model, report, outcome);
    }

    private static void PrintPublished(DemoRun run)
    {
        var (outcome, model) = (run.Outcome, run.Model);
        AnsiConsole.MarkupLine($"Parity: {Markup.Escape(outcome.Parity!.Detail)}");
        AnsiConsole.MarkupLine($"Evaluation: {Markup.Escape(outcome.Evaluation?.Detail ?? "none")}");
        AnsiConsole.Write(EvalCommand.Table(run.Report));
        AnsiConsole.MarkupLine($"Published [green]{model.Name} v{model.Version}[/] to [bold]{model.Prefix}[/] (model card with this table and data-efficiency.png; latest.json {(model.Promoted ? "moved" : "not moved: " + Markup.Escape(model.NotPromotedReason ?? ""))})");
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

    private static async Task<int> CallImageEndpointsAsync(LocalPipelineHost host, string model, LabeledDataset labeled, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        var inv = CultureInfo.InvariantCulture;
        var (_, height, width) = labeled.ImageShape;

        // Test images the probe never saw, sent as PNG files: one as a raw body, several as base64 in JSON.
        var tests = Enumerable.Range(0, labeled.Test.Count).Where(i => i % 50 == 0).Take(6).ToArray();
        var pngs = tests.Select(i => IdxImages.EncodePng(labeled.Test.Images![i], height, width)).ToArray();
        using var body = new ByteArrayContent(pngs[0]);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        using var response = await http.PostAsync($"api/models/{model}/embed-image", body, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            AnsiConsole.MarkupLine($"[red]POST api/models/{model}/embed-image: {(int)response.StatusCode} {Markup.Escape(text)}[/]");
            return 1;
        }

        var vector = JsonDocument.Parse(text).RootElement.GetProperty("embeddings")[0];
        var head = string.Join(", ", vector.EnumerateArray().Take(5).Select(v => v.GetSingle().ToString("F3", inv)));
        AnsiConsole.MarkupLine($"POST api/models/{model}/embed-image (a {pngs[0].Length}-byte PNG of a {Markup.Escape(labeled.ClassNames[labeled.Test.Labels[tests[0]]])}) -> {vector.GetArrayLength()} dims [[{head}, ...]]");

        if (await PostAsync(http, $"api/models/{model}/classify", new { images = pngs.Select(Convert.ToBase64String).ToArray() }, ct) is not { } classify)
        {
            return 1;
        }

        var predictions = classify.GetProperty("predictions");
        var table = new Table().Title($"POST api/models/{model}/classify (test images)").AddColumns("test image", "predicted", "true");
        for (var i = 0; i < tests.Length; i++)
        {
            var p = predictions[i];
            table.AddRow(
                $"#{tests[i]}",
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
