using Microsoft.DurableTask;
using Pipeline.Orchestration.Contracts;

namespace Pipeline.Orchestration.Orchestrators;

/// <summary>
/// A sealed dataset version becomes published models: seal -> plan the sweep -> fan out one TrainingJob per
/// objective x config -> fan in -> best job per objective by its validation metric -> Publish each.
/// </summary>
[DurableTask(TaskNames.Pretrain)]
public sealed class PretrainOrchestrator : TaskOrchestrator<PretrainInput, PretrainResult>
{
    private static readonly TaskOptions Retry = TaskOptions.FromRetryPolicy(new RetryPolicy(3, TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<PretrainResult> RunAsync(TaskOrchestrationContext context, PretrainInput input)
    {
        var runId = RunIds.FromInstanceId(context.InstanceId);
        var version = input.Version ?? runId;
        context.SetCustomStatus(new RunProgress(RunProgress.Stages.Sealing, input.Dataset, version));
        var dataset = await context.CallActivityAsync<SealedDataset>(TaskNames.SealDataset, new SealRequest(input.Dataset, version), Retry);

        var plan = await context.CallActivityAsync<IReadOnlyList<TrainingJobInput>>(
            TaskNames.PlanTrainingJobs, new PlanRequest(runId, dataset, input.Sweep), Retry);
        var progress = plan.Select(j => new JobProgress(j.JobId, "running")).ToList();
        context.SetCustomStatus(new RunProgress(RunProgress.Stages.Training, dataset.Dataset, dataset.Version, progress));

        var jobs = plan.Select(job => context.CallSubOrchestratorAsync<TrainingJobOutcome>(
            TaskNames.TrainingJob, job, new SubOrchestrationOptions { InstanceId = $"{context.InstanceId}-{job.JobId}" })).ToList();
        var outcomes = await Task.WhenAll(jobs);
        progress = outcomes.Select(o => new JobProgress(o.JobId, o.Status, o.Summary?.ValidationValue)).ToList();

        var best = BestJob.PerObjective(outcomes);
        if (best.Count == 0)
        {
            var why = string.Join("; ", outcomes.Select(o => $"{o.JobId}: {string.Join(" | ", o.Failures)}"));
            context.SetCustomStatus(new RunProgress(RunProgress.Stages.Failed, dataset.Dataset, dataset.Version, progress, why));
            throw new InvalidOperationException($"No training job of run {runId} succeeded: {why}");
        }

        var published = new List<PublishOutcome>();
        if (input.Publish)
        {
            context.SetCustomStatus(new RunProgress(RunProgress.Stages.Publishing, dataset.Dataset, dataset.Version, progress));
            var publishes = best.Values.Select(job => context.CallSubOrchestratorAsync<PublishOutcome>(
                TaskNames.Publish,
                new PublishInput(runId, job.JobId, job.Objective, ModelNames.For(input.ModelName, dataset.Dataset, job.Objective, best.Count), job.Result, dataset),
                new SubOrchestrationOptions { InstanceId = $"{context.InstanceId}-publish-{job.Objective}" }));
            published.AddRange(await Task.WhenAll(publishes));
        }

        var detail = string.Join("; ", published.Select(p => p.Model is { } m ? $"{m.Name} v{m.Version}" : p.Detail));
        context.SetCustomStatus(new RunProgress(RunProgress.Stages.Completed, dataset.Dataset, dataset.Version, progress, detail));
        return new PretrainResult(runId, dataset, outcomes, best.ToDictionary(kv => kv.Key, kv => kv.Value.JobId), published);
    }
}

/// <summary>Picks the best succeeded job of each objective by its validation metric (ties: the first planned).</summary>
public static class BestJob
{
    public static IReadOnlyDictionary<string, TrainingJobOutcome> PerObjective(IEnumerable<TrainingJobOutcome> outcomes)
    {
        var best = new Dictionary<string, TrainingJobOutcome>(StringComparer.Ordinal);
        foreach (var outcome in outcomes.Where(o => o.Succeeded))
        {
            if (!best.TryGetValue(outcome.Objective, out var current) || IsBetter(outcome.Summary!, current.Summary!))
            {
                best[outcome.Objective] = outcome;
            }
        }

        return best;
    }

    private static bool IsBetter(JobSummary candidate, JobSummary current)
    {
        if (candidate.ValidationValue is not { } c || double.IsNaN(c))
        {
            return false;
        }

        if (current.ValidationValue is not { } b || double.IsNaN(b))
        {
            return true;
        }

        return candidate.HigherIsBetter ? c > b : c < b;
    }
}

/// <summary>Run ids and model names derived deterministically from what the orchestration already has.</summary>
public static class RunIds
{
    /// <summary>The run id is the Pretrain instance id made blob-name safe.</summary>
    public static string FromInstanceId(string instanceId) =>
        new(instanceId.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '-').ToArray());
}

/// <summary>Registry names: [a-z0-9-], 3..63 characters.</summary>
public static class ModelNames
{
    public static string For(string? requested, string dataset, string objective, int objectives)
    {
        var name = requested is { Length: > 0 }
            ? (objectives > 1 ? $"{requested}-{objective}" : requested)
            : $"{dataset}-{objective}";
        return Sanitize(name);
    }

    public static string Sanitize(string name)
    {
        var chars = name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        var s = new string(chars).Trim('-');
        while (s.Contains("--", StringComparison.Ordinal))
        {
            s = s.Replace("--", "-", StringComparison.Ordinal);
        }

        if (s.Length < 3)
        {
            s = (s + "-model").TrimStart('-');
        }

        return s.Length > 63 ? s[..63].TrimEnd('-') : s;
    }
}
