using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Hosting;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline up`: the local host. Storage from --connection or PIPELINE_STORAGE_CONNECTION, else an Azurite it starts
/// with its data under --data; the Durable engine, the unlabeled/ watcher and the HTTP API on 127.0.0.1 until Ctrl+C.
/// </summary>
public static class UpCommand
{
    public static Command Create()
    {
        var connection = new Option<string?>("--connection") { Description = $"Storage connection string (default: ${StorageOptions.ConnectionStringVariable}, else a local Azurite)." };
        var data = new Option<string>("--data") { Description = "Folder for Azurite's data and trainer logs.", DefaultValueFactory = _ => ".pipeline" };
        var port = new Option<int>("--port") { Description = "HTTP port on 127.0.0.1.", DefaultValueFactory = _ => 7071 };
        var sealAfter = new Option<int>("--seal-after") { Description = "Seal a dataset automatically after this many new accepted uploads (0: only by marker or HTTP).", DefaultValueFactory = _ => 0 };
        var tiny = new Option<bool>("--tiny") { Description = "Use the demo's tiny MLM sweep (minutes on a laptop CPU) instead of the default one." };
        var verbose = new Option<bool>("--verbose") { Description = "Log at Information level." };
        var command = new Command("up", "Run the pipeline locally: storage, Durable engine, blob watcher, HTTP API (Ctrl+C stops).")
        {
            connection, data, port, sealAfter, tiny, verbose,
        };
        command.SetAction(async (parse, ct) =>
        {
            var pipeline = parse.GetValue(tiny) ? DemoDefaults.Pipeline() : new PipelineOptions();
            var options = new LocalHostOptions
            {
                StorageConnection = parse.GetValue(connection) ?? Environment.GetEnvironmentVariable(StorageOptions.ConnectionStringVariable),
                DataFolder = Path.GetFullPath(parse.GetValue(data)!),
                HttpPort = parse.GetValue(port),
                Pipeline = pipeline with { SealAfterDocuments = parse.GetValue(sealAfter) },
                LogLevel = parse.GetValue(verbose) ? LogLevel.Information : LogLevel.Warning,
            };
            await using var host = await LocalPipelineHost.StartAsync(options, ct);
            AnsiConsole.MarkupLine($"[green]Pipeline up[/] on [link]{host.BaseAddress}[/]");
            AnsiConsole.MarkupLine("  upload to [bold]unlabeled/{dataset}/...[/]; seal with [bold]unlabeled/{dataset}/_SEALED[/] or POST api/datasets/{dataset}/seal");
            AnsiConsole.MarkupLine("  status: GET api/runs/{id} or [bold]pipeline status {id}[/]; embed: POST api/models/{name}/embed");
            AnsiConsole.MarkupLine("  Ctrl+C stops.");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }

            AnsiConsole.MarkupLine("Stopping...");
            await host.StopAsync();
            return 0;
        });
        return command;
    }
}
