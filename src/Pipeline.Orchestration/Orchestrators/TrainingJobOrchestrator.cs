using Microsoft.DurableTask;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Orchestrators;

/// <summary>
/// One training job: launch, poll on durable timers, read result.json. A job that is lost (killed, preempted, the
/// host restarted) or failed is relaunched with the same spec and resumes from its last checkpoint, up to
/// MaxAttempts launches; past the deadline it is stopped. Long polls continue-as-new so the history stays short.
/// </summary>
[DurableTask(TaskNames.TrainingJob)]
public sealed class TrainingJobOrchestrator : TaskOrchestrator<TrainingJobInput, TrainingJobOutcome>
{
    /// <summary>Polls per history before continue-as-new.</summary>
    public const int PollsPerHistory = 50;

    private static readonly TaskOptions Retry = TaskOptions.FromRetryPolicy(new RetryPolicy(3, TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<TrainingJobOutcome> RunAsync(TaskOrchestrationContext context, TrainingJobInput input)
    {
        var progress = input.Progress;
        if (progress is null)
        {
            var handle = await context.CallActivityAsync<JobHandle>(
                TaskNames.LaunchJob, new LaunchRequest(input.RunId, input.JobId, input.Spec, 1), Retry);
            progress = new TrainingJobProgress(handle, 1, context.CurrentUtcDateTime + input.Timeout, 0, []);
        }

        var failures = progress.Failures.ToList();
        var polls = 0;
        while (true)
        {
            var wait = PollDelay(input, progress.Polls);
            await context.CreateTimer(wait, CancellationToken.None);
            var poll = await context.CallActivityAsync<JobPoll>(TaskNames.PollJob, progress.Handle, Retry);
            progress = progress with { Polls = progress.Polls + 1 };
            polls++;

            switch (poll.State)
            {
                case JobPoll.States.Succeeded:
                    return Outcome(input, JobPoll.States.Succeeded, progress.Attempt, poll.Result, failures);

                case JobPoll.States.Running when context.CurrentUtcDateTime >= progress.DeadlineUtc:
                    await context.CallActivityAsync(TaskNames.StopJob, progress.Handle, Retry);
                    failures.Add($"attempt {progress.Attempt}: timed out after {input.Timeout}");
                    return Outcome(input, "timed-out", progress.Attempt, poll.Result, failures);

                case JobPoll.States.Running:
                    if (polls >= PollsPerHistory)
                    {
                        context.ContinueAsNew(input with { Progress = progress with { Failures = failures } });
                        return null!;
                    }

                    continue;

                default:
                    failures.Add($"attempt {progress.Attempt}: {poll.State}{(poll.Detail is { } d ? $" ({d})" : "")}");
                    if (progress.Attempt >= input.MaxAttempts)
                    {
                        return Outcome(input, JobPoll.States.Failed, progress.Attempt, poll.Result, failures);
                    }

                    // Same spec, same run/job id: the trainer finds its checkpoints and resumes.
                    var attempt = progress.Attempt + 1;
                    var handle = await context.CallActivityAsync<JobHandle>(
                        TaskNames.LaunchJob, new LaunchRequest(input.RunId, input.JobId, input.Spec, attempt), Retry);
                    progress = progress with { Handle = handle, Attempt = attempt, Polls = 0 };
                    break;
            }
        }
    }

    /// <summary>Polls start at PollInterval and back off by half each time to MaxPollInterval.</summary>
    public static TimeSpan PollDelay(TrainingJobInput input, int polls)
    {
        var seconds = input.PollInterval.TotalSeconds * Math.Pow(1.5, Math.Min(polls, 20));
        return TimeSpan.FromSeconds(Math.Min(seconds, input.MaxPollInterval.TotalSeconds));
    }

    private static TrainingJobOutcome Outcome(TrainingJobInput input, string status, int attempts, JobSummary? summary, IReadOnlyList<string> failures) =>
        new(input.JobId, input.Objective, status, attempts, Core.Storage.BlobLayout.JobResult(input.RunId, input.JobId).ToString(), summary, failures);
}
