using System.CommandLine;
using System.Net;
using System.Text.Json;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline status {id}`: a run's Durable status and progress (stage, jobs, metrics) from a running host.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("id") { Description = "The run's instance id (e.g. pretrain-books-1)." };
        var url = new Option<string>("--url") { Description = "The host's base address.", DefaultValueFactory = _ => "http://127.0.0.1:7071/" };
        var command = new Command("status", "Show a run's status from a running host (pipeline up or the Functions app).") { id, url };
        command.SetAction(async (parse, ct) =>
        {
            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(url)!) };
            using var response = await http.GetAsync($"api/runs/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                AnsiConsole.MarkupLine($"[red]No run {Markup.Escape(parse.GetValue(id)!)}[/]");
                return 1;
            }

            response.EnsureSuccessStatusCode();
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(root.GetProperty("id").GetString()!)}[/] ({Markup.Escape(root.GetProperty("name").GetString()!)}): {Markup.Escape(root.GetProperty("runtimeStatus").GetString()!)}");
            if (root.TryGetProperty("customStatus", out var custom) && custom.ValueKind == JsonValueKind.Object)
            {
                Console.WriteLine(JsonSerializer.Serialize(custom, new JsonSerializerOptions { WriteIndented = true }));
            }

            return 0;
        });
        return command;
    }
}
