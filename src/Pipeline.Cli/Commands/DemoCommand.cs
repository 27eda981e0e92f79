using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Hosting;
using Pipeline.Orchestration.Sealing;
using Pipeline.Orchestration.Services;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline demo`: the whole path on embedded defaults. Starts the local host (Azurite included), uploads a small
/// generated corpus plus one empty and one binary file, seals by marker blob, waits for ingest -> train (child
/// process) -> export + parity -> publish, then calls the embed endpoint and prints where everything went.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder for Azurite's data and trainer logs (default: a fresh temporary folder)." };
        var steps = new Option<int>("--steps") { Description = "MLM training steps.", DefaultValueFactory = _ => 40 };
        var threads = new Option<int>("--threads") { Description = "libtorch threads in the trainer.", DefaultValueFactory = _ => 2 };
        var timeout = new Option<int>("--timeout-minutes") { Description = "Give up after this long.", DefaultValueFactory = _ => 15 };
        var command = new Command("demo", "Run the local pipeline end to end on a small embedded corpus and call the published model.")
        {
            data, steps, threads, timeout,
        };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(data), parse.GetValue(steps), parse.GetValue(threads), parse.GetValue(timeout), ct));
        return command;
    }

    private static async Task<int> RunAsync(string? data, int steps, int threads, int timeoutMinutes, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromMinutes(timeoutMinutes));
        var folder = data is null ? Path.Combine(Path.GetTempPath(), $"pipeline-demo-{Environment.ProcessId}") : Path.GetFullPath(data);
        var clock = Stopwatch.StartNew();
        const string dataset = "demo-corpus";
        await using var host = await AnsiConsole.Status().StartAsync("Starting the local host (Azurite, Durable engine, HTTP)...", _ =>
            LocalPipelineHost.StartAsync(new LocalHostOptions
            {
                DataFolder = folder,
                Pipeline = DemoDefaults.Pipeline(steps, threads),
                WatchInterval = TimeSpan.FromSeconds(1),
                LogLevel = LogLevel.Error,
            }, cts.Token));
        AnsiConsole.MarkupLine($"Local host on [link]{host.BaseAddress}[/] (data in {Markup.Escape(folder)})");

        var unlabeled = host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        foreach (var (name, text) in DemoDefaults.Corpus())
        {
            await unlabeled.GetBlobClient($"{dataset}/{name}").UploadAsync(BinaryData.FromString(text), overwrite: true, cts.Token);
        }

        await unlabeled.GetBlobClient($"{dataset}/empty.txt").UploadAsync(BinaryData.FromBytes([]), overwrite: true, cts.Token);
        await unlabeled.GetBlobClient($"{dataset}/noise.txt").UploadAsync(BinaryData.FromBytes(Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 % 256)).ToArray()), overwrite: true, cts.Token);
        AnsiConsole.MarkupLine($"Uploaded 4 text files, 1 empty and 1 binary file to [bold]unlabeled/{dataset}/[/]");

        await AnsiConsole.Status().StartAsync("Ingesting (the watcher starts one IngestBlob per upload)...", async _ =>
        {
            while (await CountAsync(host, $"{dataset}/index/", BlobLayout.Datasets, cts.Token) < 4 || await CountAsync(host, $"{dataset}/", BlobLayout.Quarantine, cts.Token) < 4)
            {
                await Task.Delay(500, cts.Token);
            }
        });
        AnsiConsole.MarkupLine("Ingested: 4 accepted, 2 quarantined with a reason (see quarantine/)");

        await unlabeled.GetBlobClient(SealMarker.For(dataset).Name).UploadAsync(BinaryData.FromString("seal"), overwrite: true, cts.Token);
        var instanceId = IngestInstanceIds.ForPretrain(dataset, "1");
        RunStatus? status = null;
        await AnsiConsole.Status().StartAsync("Sealed by marker; training (child process), exporting, checking parity, publishing...", async ctx =>
        {
            while (true)
            {
                status = await host.Api.StatusAsync(instanceId, cts.Token) ?? status;
                if (status is { IsFinished: true })
                {
                    break;
                }

                if (status?.ReadCustomStatus<RunProgress>() is { } progress)
                {
                    ctx.Status($"Run {instanceId}: {progress.Stage} ({clock.Elapsed:mm\\:ss})");
                }

                await Task.Delay(1000, cts.Token);
            }
        });

        if (status!.RuntimeStatus != "Completed")
        {
            AnsiConsole.MarkupLine($"[red]Run {instanceId} {status.RuntimeStatus}: {Markup.Escape(status.Failure ?? "")}[/]");
            return 1;
        }

        var result = status.ReadOutput<PretrainResult>()!;
        var published = result.Published.FirstOrDefault(p => p.Published);
        if (published?.Model is not { } model)
        {
            AnsiConsole.MarkupLine($"[red]Nothing was published: {Markup.Escape(string.Join("; ", result.Published.Select(p => p.Detail)))}[/]");
            return 1;
        }

        var job = result.Jobs.Single(j => j.JobId == result.BestJobPerObjective["mlm"]);
        AnsiConsole.MarkupLine($"Trained [bold]{job.JobId}[/]: {job.Summary!.Steps} steps, {job.Summary.ValidationMetric} = {job.Summary.ValidationValue:F3}");
        AnsiConsole.MarkupLine($"Parity: {Markup.Escape(published.Parity!.Detail)}");
        AnsiConsole.MarkupLine($"Published [green]{model.Name} v{model.Version}[/] to [bold]{model.Prefix}[/] (latest.json {(model.Promoted ? "moved" : "not moved: " + Markup.Escape(model.NotPromotedReason ?? ""))})");

        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        var texts = new[] { "The farmer carried a wooden boat near the river.", "A grey cat watched the broken clock." };
        using var response = await http.PostAsJsonAsync($"api/models/{model.Name}/embed", new { texts }, cts.Token);
        var body = await response.Content.ReadAsStringAsync(cts.Token);
        if (!response.IsSuccessStatusCode)
        {
            AnsiConsole.MarkupLine($"[red]POST api/models/{model.Name}/embed: {(int)response.StatusCode} {Markup.Escape(body)}[/]");
            return 1;
        }

        using var doc = JsonDocument.Parse(body);
        var vectors = doc.RootElement.GetProperty("embeddings");
        AnsiConsole.MarkupLine($"POST {host.BaseAddress}api/models/{model.Name}/embed -> {vectors.GetArrayLength()} vectors of {vectors[0].GetArrayLength()} dims");
        var head = string.Join(", ", vectors[0].EnumerateArray().Take(6).Select(v => v.GetSingle().ToString("F4", System.Globalization.CultureInfo.InvariantCulture)));
        AnsiConsole.WriteLine($"  \"{texts[0]}\" -> [{head}, ...]");
        AnsiConsole.MarkupLine($"[green]Done in {clock.Elapsed:mm\\:ss}.[/]");
        await host.StopAsync();
        return 0;
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
