using System.Collections.Concurrent;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Pipeline.Orchestration;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Orchestrators;

namespace Pipeline.Tests.Orchestration;

/// <summary>
/// The real orchestrators on the in-process Durable test host, with every activity replaced by a scripted fake that
/// counts its calls: the orchestrators' decisions are tested without storage or processes.
/// </summary>
internal sealed class FakePipeline
{
    public ConcurrentQueue<LaunchRequest> Launches { get; } = new();

    public ConcurrentQueue<JobHandle> Stops { get; } = new();

    public ConcurrentQueue<PublishModelRequest> Publishes { get; } = new();

    public ConcurrentDictionary<string, int> Polls { get; } = new();

    /// <summary>Sweep configs: job id -> scripted poll states per attempt.</summary>
    public List<(string JobId, string Objective)> Jobs { get; init; } = [];

    /// <summary>(jobId, attempt, pollNumber) -> poll result; default: succeeded with validation 1.0.</summary>
    public Func<string, int, int, JobPoll> Poll { get; init; } = (_, _, _) => Succeeded(1.0);

    public ParityGate Parity { get; init; } = new(true, 1e-6, "ok");

    public TimeSpan Timeout { get; init; } = TimeSpan.FromHours(1);

    public int MaxAttempts { get; init; } = 3;

    public static JobPoll Succeeded(double validation, bool higherIsBetter = false) => new(
        JobPoll.States.Succeeded,
        Result: new JobSummary("succeeded", 10, "val_loss", validation, higherIsBetter, new Dictionary<string, double> { ["val_loss"] = validation },
            new Dictionary<string, string> { ["encoder.onnx"] = "runs/r/j/encoder.onnx" }, null));

    public Task<DurableTaskTestHost> StartAsync() => DurableTaskTestHost.StartAsync(r =>
    {
        r.AddOrchestrator<PretrainOrchestrator>();
        r.AddOrchestrator<TrainingJobOrchestrator>();
        r.AddOrchestrator<PublishOrchestrator>();
        r.AddActivityFunc<SealRequest, SealedDataset>(TaskNames.SealDataset, (_, s) =>
            new SealedDataset(s.Dataset, s.Version, "text", $"datasets/{s.Dataset}/{s.Version}/manifest.json", 10, 9, 1));
        r.AddActivityFunc<PlanRequest, IReadOnlyList<TrainingJobInput>>(TaskNames.PlanTrainingJobs, (_, p) =>
            Jobs.Select(j => new TrainingJobInput
            {
                RunId = p.RunId, JobId = j.JobId, Objective = j.Objective, Spec = $"runs/{p.RunId}/{j.JobId}/spec.json",
                PollInterval = TimeSpan.FromMilliseconds(20), MaxPollInterval = TimeSpan.FromMilliseconds(50),
                Timeout = Timeout, MaxAttempts = MaxAttempts,
            }).ToList());
        r.AddActivityFunc<LaunchRequest, JobHandle>(TaskNames.LaunchJob, (_, l) =>
        {
            Launches.Enqueue(l);
            return new JobHandle("fake", $"{l.JobId}#{l.Attempt}", l.RunId, l.JobId, l.Attempt);
        });
        r.AddActivityFunc<JobHandle, JobPoll>(TaskNames.PollJob, (_, h) =>
        {
            var n = Polls.AddOrUpdate(h.Id, 1, (_, v) => v + 1);
            return Poll(h.JobId, h.Attempt, n);
        });
        r.AddActivityFunc<JobHandle, bool>(TaskNames.StopJob, (_, h) =>
        {
            Stops.Enqueue(h);
            return true;
        });
        r.AddActivityFunc<PublishInput, ParityGate>(TaskNames.CheckParity, (_, _) => Parity);
        r.AddActivityFunc<PublishInput, EvaluationSummary>(TaskNames.EvaluateModel, (_, _) => new EvaluationSummary(true, true, "probe ok"));
        r.AddActivityFunc<PublishModelRequest, PublishedModel>(TaskNames.PublishModel, (_, p) =>
        {
            Publishes.Enqueue(p);
            return new PublishedModel(p.Job.ModelName, Publishes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), $"models/{p.Job.ModelName}/1/");
        });
    });

    public static async Task<OrchestrationMetadata> RunAsync(DurableTaskTestHost host, string name, object input, string? instanceId = null)
    {
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync(name, input, instanceId is null ? null : new StartOrchestrationOptions(instanceId));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await host.Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, cts.Token);
    }
}
