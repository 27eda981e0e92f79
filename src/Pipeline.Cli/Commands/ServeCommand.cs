using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Core.Storage;
using Pipeline.Inference;
using Pipeline.Inference.Http;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline serve`: the registry's published models behind the inference endpoints (embed, fill-mask, similarity,
/// classify, embed-image; ?version= and ?variant=int8) on 127.0.0.1 until Ctrl+C. Only inference: no engine, no
/// watcher. Storage from --connection or PIPELINE_STORAGE_CONNECTION / PIPELINE_STORAGE_BLOB_URI.
/// </summary>
public static class ServeCommand
{
    public static Command Create(Action<Uri>? started = null)
    {
        var connection = new Option<string?>("--connection") { Description = $"Storage connection string (default: ${StorageOptions.ConnectionStringVariable} or ${StorageOptions.ServiceUriVariable})." };
        var port = new Option<int>("--port") { Description = "HTTP port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 7072 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads per model (0: all cores).", DefaultValueFactory = _ => Math.Max(1, Environment.ProcessorCount) };
        var noBatching = new Option<bool>("--no-batching") { Description = "Run each request on its own instead of micro-batching concurrent ones." };
        var cache = new Option<string?>("--cache") { Description = "Folder for downloaded models and ORT's optimised-graph cache." };
        var command = new Command("serve", "Serve the registry's published models on 127.0.0.1 (Ctrl+C stops).")
        {
            connection, port, threads, noBatching, cache,
        };
        command.SetAction(async (parse, ct) =>
        {
            var given = parse.GetValue(connection);
            var storage = given is null ? StorageOptions.FromEnvironment() : new StorageOptions { ConnectionString = given };
            var defaults = new InferenceOptions();
            var options = defaults with
            {
                IntraOpThreads = parse.GetValue(threads),
                Batching = defaults.Batching with { Enabled = !parse.GetValue(noBatching) },
                CacheDirectory = parse.GetValue(cache) is { } folder ? Path.GetFullPath(folder) : defaults.CacheDirectory,
            };
            await using var server = await InferenceServer.StartAsync(storage.CreateBlobServiceClient(), options.Validate(), parse.GetValue(port), ct: ct);
            var models = await server.Services.GetRequiredService<InferenceService>().ListModelsAsync(ct);
            AnsiConsole.MarkupLine($"[green]Serving[/] {models.Count} model(s) on [link]{server.Address}[/]: {Markup.Escape(string.Join(", ", models))}");
            AnsiConsole.MarkupLine("  POST api/models/{name}/embed | fill-mask | similarity | classify | embed-image (?version=, ?variant=int8); GET api/models");
            AnsiConsole.MarkupLine("  Ctrl+C stops.");
            started?.Invoke(server.Address);
            await server.WaitAsync(ct);
            AnsiConsole.MarkupLine("Stopping...");
            return 0;
        });
        return command;
    }
}
