using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Jobs;

/// <summary>
/// Starts a training job (Pipeline.Trainer with a spec) somewhere and reports whether it still runs. The job itself
/// writes result.json; the launcher only knows the process or execution, so the orchestration reads both.
/// </summary>
public interface IJobLauncher
{
    string Name { get; }

    Task<JobHandle> LaunchAsync(LaunchRequest request, CancellationToken cancellationToken);

    Task<LaunchedJobState> GetStateAsync(JobHandle handle, CancellationToken cancellationToken);

    Task StopAsync(JobHandle handle, CancellationToken cancellationToken);
}

/// <summary>What the launcher knows about a job: running, exited (with a code when known), or unknown to it.</summary>
public sealed record LaunchedJobState(LaunchedJobStatus Status, string? Detail = null, int? ExitCode = null);

public enum LaunchedJobStatus
{
    Running,
    Succeeded,
    Failed,
    /// <summary>The launcher has no such job any more (process gone after a host restart, execution deleted).</summary>
    Missing,
}
