using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Jobs;

/// <summary>Where the local launcher finds the trainer and what it gives it.</summary>
public sealed record LocalProcessLauncherOptions
{
    /// <summary>Pipeline.Trainer.dll (run with the current dotnet) or an executable; found beside the repository's build output when null.</summary>
    public string? TrainerPath { get; init; }

    /// <summary>The storage the trainer reads and writes (passed as PIPELINE_STORAGE_CONNECTION, never logged).</summary>
    public required StorageOptions Storage { get; init; }

    /// <summary>Trainer stdout/stderr go to {LogFolder}/{runId}/{jobId}-{attempt}.log.</summary>
    public string LogFolder { get; init; } = Path.Combine(Path.GetTempPath(), "pipeline-jobs");

    /// <summary>Extra environment for the child (threads, device).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// Runs Pipeline.Trainer as a child process of this host (CPU, or CUDA where present). The handle carries the pid and
/// its start time, so after a host restart a poll tells a still-running trainer from a recycled pid. Disposing the
/// launcher (host shutdown) kills its children: their jobs are then relaunched and resume from their checkpoints.
/// </summary>
public sealed class LocalProcessLauncher(LocalProcessLauncherOptions options, ILogger<LocalProcessLauncher> logger) : IJobLauncher, IDisposable
{
    public const string LauncherName = "LocalProcess";

    // Our children with the start time recorded at launch: a trainer that fails fast may be gone (and its /proc entry
    // with it) before StartTime could be read again.
    private readonly ConcurrentDictionary<int, (Process Process, long Ticks)> _children = new();

    public string Name => LauncherName;

    public Task<JobHandle> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken)
    {
        var trainer = options.TrainerPath ?? TrainerLocator.Find()
            ?? throw new FileNotFoundException("Pipeline.Trainer build output not found: build src/Pipeline.Trainer or set Pipeline:Local:TrainerPath.");
        var psi = trainer.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
            ? new ProcessStartInfo(DotnetHost()) { ArgumentList = { trainer } }
            : new ProcessStartInfo(trainer);
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--spec");
        psi.ArgumentList.Add(request.Spec);
        psi.UseShellExecute = false;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.Environment[StorageOptions.ConnectionStringVariable] = options.Storage.ConnectionString ?? "";
        if (options.Storage.BlobServiceUri is { } uri)
        {
            psi.Environment[StorageOptions.ServiceUriVariable] = uri.ToString();
        }

        foreach (var (k, v) in options.Environment)
        {
            psi.Environment[k] = v;
        }

        var logPath = Path.Combine(options.LogFolder, request.RunId, $"{request.JobId}-{request.Attempt}.log");
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Exited += (_, _) => { lock (log) { log.Dispose(); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var startTicks = StartTicks(process);
        if (startTicks < 0)
        {
            startTicks = DateTime.UtcNow.Ticks; // exited already: any value unique to this launch identifies it
        }

        _children[process.Id] = (process, startTicks);
        logger.LogInformation("Launched trainer for {RunId}/{JobId} attempt {Attempt}: pid {Pid}, log {Log}",
            request.RunId, request.JobId, request.Attempt, process.Id, logPath);
        var id = $"{process.Id}@{startTicks.ToString(CultureInfo.InvariantCulture)}";
        return Task.FromResult(new JobHandle(LauncherName, id, request.RunId, request.JobId, request.Attempt));
    }

    public Task<LaunchedJobState> GetStateAsync(JobHandle handle, CancellationToken cancellationToken)
    {
        var (pid, ticks) = Parse(handle);
        if (_children.TryGetValue(pid, out var entry) && entry.Ticks == ticks)
        {
            var child = entry.Process;
            if (!child.HasExited)
            {
                return Task.FromResult(new LaunchedJobState(LaunchedJobStatus.Running, $"pid {pid}"));
            }

            child.WaitForExit();
            var code = child.ExitCode;
            return Task.FromResult(code == 0
                ? new LaunchedJobState(LaunchedJobStatus.Succeeded, ExitCode: 0)
                : new LaunchedJobState(LaunchedJobStatus.Failed, $"trainer exited with code {code}", code));
        }

        // Not our child (this host restarted): alive only if that pid still runs with the same start time.
        try
        {
            using var p = Process.GetProcessById(pid);
            if (!p.HasExited && StartTicks(p) == ticks)
            {
                return Task.FromResult(new LaunchedJobState(LaunchedJobStatus.Running, $"pid {pid} (adopted)"));
            }
        }
        catch (ArgumentException)
        {
        }
        catch (InvalidOperationException)
        {
        }

        return Task.FromResult(new LaunchedJobState(LaunchedJobStatus.Missing, $"trainer pid {pid} is gone"));
    }

    public Task StopAsync(JobHandle handle, CancellationToken cancellationToken)
    {
        var (pid, ticks) = Parse(handle);
        try
        {
            using var p = Process.GetProcessById(pid);
            if (StartTicks(p) == ticks)
            {
                p.Kill(entireProcessTree: true);
            }
        }
        catch (ArgumentException)
        {
        }
        catch (InvalidOperationException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>The pids of running children (tests kill one to simulate a lost job).</summary>
    public IReadOnlyList<int> RunningChildren => _children.Values.Select(c => c.Process).Where(p => !p.HasExited).Select(p => p.Id).ToList();

    public void Dispose()
    {
        foreach (var (child, _) in _children.Values)
        {
            try
            {
                if (!child.HasExited)
                {
                    child.Kill(entireProcessTree: true);
                    child.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            child.Dispose();
        }

        _children.Clear();
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private static (int Pid, long Ticks) Parse(JobHandle handle)
    {
        var parts = handle.Id.Split('@');
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    /// <summary>The process's start time in UTC ticks, or -1 once it has exited (internal for a test).</summary>
    internal static long StartTicks(Process p)
    {
        try
        {
            return p.StartTime.ToUniversalTime().Ticks;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Exited already: .NET says so with InvalidOperationException, or, once the child has been reaped and
            // /proc/<pid>/stat is gone, with Win32Exception (a trainer that fails fast hits this; CI saw it).
            return -1;
        }
    }

    private static string DotnetHost() =>
        System.Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
}

/// <summary>Finds the Pipeline.Trainer build output: PIPELINE_TRAINER_PATH, beside this app, or under the repository's src/.</summary>
public static class TrainerLocator
{
    public const string PathVariable = "PIPELINE_TRAINER_PATH";

    public static string? Find()
    {
        if (System.Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } fromEnv && File.Exists(fromEnv))
        {
            return fromEnv;
        }

        var beside = Path.Combine(AppContext.BaseDirectory, "Pipeline.Trainer.dll");
        if (File.Exists(beside))
        {
            return beside;
        }

        // Same configuration as this app first (bin/Debug or bin/Release), then the other.
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? new[] { "Release", "Debug" } : new[] { "Debug", "Release" };
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                continue;
            }

            foreach (var c in configuration)
            {
                var candidate = Path.Combine(dir.FullName, "src", "Pipeline.Trainer", "bin", c, "net10.0", "Pipeline.Trainer.dll");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
