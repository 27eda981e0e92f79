using Pipeline.Core.Jobs;
using Pipeline.Core.Storage;
using Pipeline.Training.Jobs;
using Spectre.Console;

// Pipeline.Trainer run --spec <spec.json file | container/name blob> [--local-root <folder>] [--work <folder>]
// Storage: PIPELINE_STORAGE_CONNECTION (Azurite/Azure connection string) or PIPELINE_STORAGE_BLOB_URI (managed
// identity); --local-root maps blob paths onto {folder}/{container}/{name} for runs without a storage service.
// Exit codes: 0 succeeded, 1 failed (result.json says why), 2 usage, 3 interrupted (resumes when relaunched).

if (args.Length == 0 || args[0] != "run")
{
    return Usage();
}

string? spec = null, localRoot = null, work = null;
for (var i = 1; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    switch (args[i])
    {
        case "--spec": spec = value; i++; break;
        case "--local-root": localRoot = value; i++; break;
        case "--work": work = value; i++; break;
        default: return Usage($"unknown argument '{args[i]}'");
    }
}

if (string.IsNullOrWhiteSpace(spec))
{
    return Usage("--spec is required");
}

IJobStorage storage;
if (localRoot is not null)
{
    storage = new LocalJobStorage(localRoot);
}
else
{
    var options = StorageOptions.FromEnvironment();
    if (options.ConnectionString is null && options.BlobServiceUri is null)
    {
        return Usage($"no storage: set {StorageOptions.ConnectionStringVariable} or {StorageOptions.ServiceUriVariable}, or pass --local-root <folder>");
    }

    storage = new BlobJobStorage(options.CreateBlobServiceClient());
}

work ??= Path.Combine(Path.GetTempPath(), "pipeline-trainer", string.Concat(spec.Select(c => char.IsLetterOrDigit(c) ? c : '_')));
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
// SIGTERM (a preempted container, a stopped local job): stop between steps; the newest checkpoint survives.
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, signal =>
{
    signal.Cancel = true;
    cts.Cancel();
});

var run = new JobRunOptions { Spec = spec, Storage = storage, WorkFolder = work, Console = Console.Error };
try
{
    JobResult result;
    if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsErrorRedirected)
    {
        result = await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask("training", maxValue: 1);
                var bar = new CallbackProgress((step, total, loss) =>
                {
                    task.MaxValue = total;
                    task.Value = step;
                    task.Description = loss is { } l ? $"step {step}/{total} loss {l:F3}" : $"step {step}/{total}";
                });
                return await JobRunner.RunAsync(run with { Progress = bar, Console = null }, cts.Token);
            });
    }
    else
    {
        result = await JobRunner.RunAsync(run, cts.Token);
    }

    Console.Out.WriteLine($"{result.Status} {result.RunId}/{result.JobId} steps={result.Steps} {result.ValidationMetric}={result.ValidationValue}");
    if (result.Error is not null)
    {
        Console.Error.WriteLine(result.Error);
    }

    return result.Status == JobResult.Statuses.Succeeded ? 0 : 1;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("interrupted; relaunch with the same spec to resume from the newest checkpoint");
    return 3;
}

static int Usage(string? problem = null)
{
    if (problem is not null)
    {
        Console.Error.WriteLine($"error: {problem}");
    }

    Console.Error.WriteLine("usage: Pipeline.Trainer run --spec <spec.json file | container/name blob> [--local-root <folder>] [--work <folder>]");
    return 2;
}
