using System.Text.Json;
using Pipeline.Core;

namespace Pipeline.Training.Jobs;

/// <summary>
/// Structured job log: every event is one JSON line in logs.jsonl (uploaded with the job outputs) and one readable
/// line on stderr. Never pass secrets or connection strings as fields.
/// </summary>
public sealed class JobLog : IDisposable
{
    private readonly StreamWriter? _file;
    private readonly TextWriter? _console;
    private readonly object _gate = new();

    public JobLog(string? filePath, TextWriter? console)
    {
        FilePath = filePath;
        if (filePath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(filePath))!);
            _file = new StreamWriter(new FileStream(filePath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        }

        _console = console;
    }

    /// <summary>A log that writes nowhere (tests of single components).</summary>
    public static JobLog Null => new(null, null);

    public string? FilePath { get; }

    public void Info(string message, object? fields = null) => Write("info", message, fields);

    public void Warn(string message, object? fields = null) => Write("warn", message, fields);

    public void Error(string message, object? fields = null) => Write("error", message, fields);

    private void Write(string level, string message, object? fields)
    {
        var time = DateTimeOffset.UtcNow;
        lock (_gate)
        {
            if (_file is not null)
            {
                var line = new Dictionary<string, object?> { ["time"] = time, ["level"] = level, ["message"] = message };
                if (fields is not null)
                {
                    line["fields"] = fields;
                }

                _file.WriteLine(JsonSerializer.Serialize(line, CompactJson));
            }

            if (_console is not null)
            {
                var extra = fields is null ? string.Empty : " " + JsonSerializer.Serialize(fields, CompactJson);
                _console.WriteLine($"{time:HH:mm:ss} {level,-5} {message}{extra}");
            }
        }
    }

    private static readonly JsonSerializerOptions CompactJson = new(PipelineJson.Options) { WriteIndented = false };

    public void Dispose() => _file?.Dispose();
}

/// <summary>Where a training loop reports progress (a Spectre progress bar in a terminal, periodic log lines otherwise).</summary>
public interface ITrainingProgress
{
    void Report(long step, long totalSteps, double? loss);
}

/// <summary>Progress that goes nowhere, or to a callback (tests use the callback to interrupt a job mid-run).</summary>
public sealed class CallbackProgress(Action<long, long, double?>? callback = null) : ITrainingProgress
{
    public void Report(long step, long totalSteps, double? loss) => callback?.Invoke(step, totalSteps, loss);
}
