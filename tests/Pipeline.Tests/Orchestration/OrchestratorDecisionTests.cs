using Microsoft.DurableTask.Client;
using Pipeline.Core;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Tests.Orchestration;

public sealed class OrchestratorDecisionTests
{
    [Fact]
    public async Task Pretrain_fans_out_one_job_per_config_and_publishes_the_best_job_of_each_objective()
    {
        var fake = new FakePipeline
        {
            Jobs = [("mlm-small", "mlm"), ("mlm-large", "mlm"), ("mlm-wide", "mlm"), ("simclr-base", "simclr")],
            Poll = (job, _, _) => FakePipeline.Succeeded(job switch { "mlm-small" => 2.5, "mlm-large" => 1.25, "mlm-wide" => 1.75, _ => 0.5 }),
        };
        await using var host = await fake.StartAsync();

        var meta = await FakePipeline.RunAsync(host, TaskNames.Pretrain, new PretrainInput { Dataset = "corpus", Version = "1" }, "pretrain-corpus-1");

        Assert.Equal(OrchestrationRuntimeStatus.Completed, meta.RuntimeStatus);
        var result = meta.ReadOutputAs<PretrainResult>()!;
        Assert.Equal(4, result.Jobs.Count);
        Assert.Equal(4, fake.Launches.Count);
        Assert.Equal("mlm-large", result.BestJobPerObjective["mlm"]);
        Assert.Equal("simclr-base", result.BestJobPerObjective["simclr"]);
        Assert.Equal(2, fake.Publishes.Count);
        Assert.Contains(fake.Publishes, p => p.Job.JobId == "mlm-large" && p.Job.ModelName == "corpus-mlm");
        Assert.DoesNotContain(fake.Publishes, p => p.Job.JobId is "mlm-small" or "mlm-wide");
        var status = meta.ReadCustomStatusAs<RunProgress>()!;
        Assert.Equal(RunProgress.Stages.Completed, status.Stage);
    }

    [Fact]
    public async Task Best_pick_respects_higher_is_better_metrics()
    {
        var fake = new FakePipeline
        {
            Jobs = [("rotation-a", "rotation"), ("rotation-b", "rotation")],
            Poll = (job, _, _) => FakePipeline.Succeeded(job == "rotation-a" ? 0.9 : 0.7, higherIsBetter: true),
        };
        await using var host = await fake.StartAsync();

        var meta = await FakePipeline.RunAsync(host, TaskNames.Pretrain, new PretrainInput { Dataset = "imgs", Version = "1", ModelName = "my-cnn" });

        var result = meta.ReadOutputAs<PretrainResult>()!;
        Assert.Equal("rotation-a", result.BestJobPerObjective["rotation"]);
        Assert.Equal("my-cnn", Assert.Single(fake.Publishes).Job.ModelName);
    }

    [Fact]
    public async Task A_lost_job_is_relaunched_with_the_same_spec_and_its_success_counts()
    {
        // Attempt 1 runs once then vanishes (killed, preempted); attempt 2 runs twice then succeeds.
        var fake = new FakePipeline
        {
            Jobs = [("mlm-base", "mlm")],
            Poll = (_, attempt, n) => attempt == 1
                ? n == 1 ? new JobPoll(JobPoll.States.Running) : new JobPoll(JobPoll.States.Lost, "pid gone")
                : n <= 2 ? new JobPoll(JobPoll.States.Running) : FakePipeline.Succeeded(1.5),
        };
        await using var host = await fake.StartAsync();

        var meta = await FakePipeline.RunAsync(host, TaskNames.Pretrain, new PretrainInput { Dataset = "c", Version = "1" });

        Assert.Equal(OrchestrationRuntimeStatus.Completed, meta.RuntimeStatus);
        var job = Assert.Single(meta.ReadOutputAs<PretrainResult>()!.Jobs);
        Assert.Equal(2, job.Attempts);
        Assert.Equal([1, 2], fake.Launches.Select(l => l.Attempt));
        Assert.All(fake.Launches, l => Assert.Equal(fake.Launches.First().Spec, l.Spec));
        Assert.Contains("lost", Assert.Single(job.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retries_are_bounded_and_a_run_with_no_successful_job_fails_with_the_reasons()
    {
        var fake = new FakePipeline
        {
            Jobs = [("mlm-base", "mlm")],
            MaxAttempts = 3,
            Poll = (_, attempt, _) => new JobPoll(JobPoll.States.Failed, $"exit code {attempt}"),
        };
        await using var host = await fake.StartAsync();

        var meta = await FakePipeline.RunAsync(host, TaskNames.Pretrain, new PretrainInput { Dataset = "c", Version = "1" });

        Assert.Equal(OrchestrationRuntimeStatus.Failed, meta.RuntimeStatus);
        Assert.Equal(3, fake.Launches.Count);
        Assert.Contains("exit code 3", meta.FailureDetails!.ErrorMessage, StringComparison.Ordinal);
        Assert.Empty(fake.Publishes);
    }

    [Fact]
    public async Task A_job_past_its_deadline_is_stopped_and_reported_timed_out()
    {
        var fake = new FakePipeline
        {
            Jobs = [("mlm-base", "mlm")],
            Timeout = TimeSpan.FromMilliseconds(300),
            Poll = (_, _, _) => new JobPoll(JobPoll.States.Running),
        };
        await using var host = await fake.StartAsync();
        var input = new TrainingJobInput
        {
            RunId = "r", JobId = "mlm-base", Objective = "mlm", Spec = "runs/r/mlm-base/spec.json",
            PollInterval = TimeSpan.FromMilliseconds(50), MaxPollInterval = TimeSpan.FromMilliseconds(100), Timeout = TimeSpan.FromMilliseconds(300),
        };

        var meta = await FakePipeline.RunAsync(host, TaskNames.TrainingJob, input);

        var outcome = meta.ReadOutputAs<TrainingJobOutcome>()!;
        Assert.Equal("timed-out", outcome.Status);
        Assert.Equal("mlm-base#1", Assert.Single(fake.Stops).Id);
        Assert.Single(fake.Launches);
    }

    [Fact]
    public async Task A_failed_parity_gate_publishes_nothing_and_says_why()
    {
        var fake = new FakePipeline { Jobs = [("mlm-base", "mlm")], Parity = new ParityGate(false, 0.3, "max abs diff 0.3") };
        await using var host = await fake.StartAsync();

        var meta = await FakePipeline.RunAsync(host, TaskNames.Pretrain, new PretrainInput { Dataset = "c", Version = "1" });

        var result = meta.ReadOutputAs<PretrainResult>()!;
        var publish = Assert.Single(result.Published);
        Assert.False(publish.Published);
        Assert.Contains("parity", publish.Detail, StringComparison.Ordinal);
        Assert.Empty(fake.Publishes);
    }

    [Fact]
    public async Task Replays_do_not_repeat_side_effects_and_long_polls_continue_as_new()
    {
        // 60 polls > PollsPerHistory: the job continues-as-new once; every replay re-runs the orchestrator code,
        // yet each launch and poll happens exactly once.
        var fake = new FakePipeline
        {
            Jobs = [("mlm-base", "mlm")],
            Poll = (_, _, n) => n < 60 ? new JobPoll(JobPoll.States.Running) : FakePipeline.Succeeded(1.0),
        };
        await using var host = await fake.StartAsync();
        var input = new TrainingJobInput
        {
            RunId = "r", JobId = "mlm-base", Objective = "mlm", Spec = "runs/r/mlm-base/spec.json",
            PollInterval = TimeSpan.FromMilliseconds(5), MaxPollInterval = TimeSpan.FromMilliseconds(5),
        };

        var meta = await FakePipeline.RunAsync(host, TaskNames.TrainingJob, input);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, meta.RuntimeStatus);
        Assert.Equal(JobPoll.States.Succeeded, meta.ReadOutputAs<TrainingJobOutcome>()!.Status);
        Assert.Single(fake.Launches);
        Assert.Equal(60, fake.Polls["mlm-base#1"]);
    }
}
