using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Jobs;
using Pipeline.Testing;

namespace Pipeline.Tests.Orchestration;

/// <summary>The local launcher with a stand-in trainer script: arguments, environment, exit codes, a killed job, adoption.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalProcessLauncherTests : IDisposable
{
    private readonly TempDirectory _temp = new("launcher");

    [Fact]
    public async Task Runs_the_trainer_with_the_spec_and_storage_and_reports_its_exit_code()
    {
        var script = Script("echo \"$@\" > \"$OUT\"; echo \"$PIPELINE_STORAGE_CONNECTION\" >> \"$OUT\"; exit 3");
        using var launcher = Launcher(script);

        var handle = await launcher.LaunchAsync(new LaunchRequest("run-1", "mlm-base", "runs/run-1/mlm-base/spec.json", 1), CancellationToken.None);
        var state = await WaitUntilAsync(launcher, handle, s => s.Status != LaunchedJobStatus.Running);

        Assert.Equal(LaunchedJobStatus.Failed, state.Status);
        Assert.Equal(3, state.ExitCode);
        var lines = await File.ReadAllLinesAsync(_temp.Combine("out.txt"));
        Assert.Equal("run --spec runs/run-1/mlm-base/spec.json", lines[0]);
        Assert.Equal("UseDevelopmentStorage=true", lines[1]);
    }

    [Fact]
    public void A_reaped_process_has_no_start_time_instead_of_throwing()
    {
        // A trainer that fails fast can be gone (reaped, /proc/<pid> removed) before the launcher reads its start time;
        // .NET then throws Win32Exception from Process.StartTime. CI once failed the test above on exactly that race.
        // A second handle on the pid, taken while it runs, does not know it has exited: it reads /proc/<pid>/stat.
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "0.2") { UseShellExecute = false })!;
        using var handle = System.Diagnostics.Process.GetProcessById(process.Id);
        process.WaitForExit();

        Assert.Equal(-1, LocalProcessLauncher.StartTicks(handle));
    }

    [Fact]
    public async Task A_killed_trainer_is_not_running_and_a_restarted_host_adopts_a_live_one()
    {
        var script = Script("sleep 30");
        using var launcher = Launcher(script);
        var handle = await launcher.LaunchAsync(new LaunchRequest("r", "j", "runs/r/j/spec.json", 1), CancellationToken.None);

        // A second launcher instance is what a restarted host has: it knows the job only by its handle.
        using var restarted = Launcher(script);
        var adopted = await restarted.GetStateAsync(handle, CancellationToken.None);
        await restarted.StopAsync(handle, CancellationToken.None);
        var afterKill = await WaitUntilAsync(launcher, handle, s => s.Status != LaunchedJobStatus.Running);
        var unknownToRestarted = await restarted.GetStateAsync(handle, CancellationToken.None);

        Assert.Equal(LaunchedJobStatus.Running, adopted.Status);
        Assert.Equal(LaunchedJobStatus.Failed, afterKill.Status);
        Assert.Equal(LaunchedJobStatus.Missing, unknownToRestarted.Status);
    }

    [Fact]
    public async Task Disposing_the_launcher_kills_its_children()
    {
        using var launcher = Launcher(Script("sleep 30"));
        var handle = await launcher.LaunchAsync(new LaunchRequest("r", "j", "runs/r/j/spec.json", 1), CancellationToken.None);
        Assert.Single(launcher.RunningChildren);

        launcher.Dispose();
        using var other = Launcher(Script("true"));

        Assert.Equal(LaunchedJobStatus.Missing, (await other.GetStateAsync(handle, CancellationToken.None)).Status);
    }

    public void Dispose() => _temp.Dispose();

    private LocalProcessLauncher Launcher(string script) => new(
        new LocalProcessLauncherOptions
        {
            TrainerPath = script,
            Storage = new StorageOptions { ConnectionString = "UseDevelopmentStorage=true" },
            LogFolder = _temp.Combine("logs"),
            Environment = new Dictionary<string, string> { ["OUT"] = _temp.Combine("out.txt") },
        },
        NullLogger<LocalProcessLauncher>.Instance);

    private string Script(string body)
    {
        var path = _temp.Combine($"trainer-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static async Task<LaunchedJobState> WaitUntilAsync(LocalProcessLauncher launcher, JobHandle handle, Func<LaunchedJobState, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var state = await launcher.GetStateAsync(handle, CancellationToken.None);
            if (done(state) || DateTime.UtcNow > deadline)
            {
                return state;
            }

            await Task.Delay(50);
        }
    }
}
