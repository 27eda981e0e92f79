using System.Diagnostics;
using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Jobs;
using Pipeline.Testing;
using Pipeline.Training.Tests.Text;

namespace Pipeline.Training.Tests.Jobs;

public class TrainerProcessTests
{
    /// <summary>The Pipeline.Trainer build output next to this test's (same configuration).</summary>
    private static string TrainerDll()
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        var dll = RepositoryPaths.Combine("src", "Pipeline.Trainer", "bin", configuration, "net10.0", "Pipeline.Trainer.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing; the test project references Pipeline.Trainer so a build produces it.");
        return dll;
    }

    private static async Task<(int Code, string Out, string Err)> RunTrainer(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TrainerDll());
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        // A file spec with --local-root must not need any storage account.
        start.Environment.Remove("PIPELINE_STORAGE_CONNECTION");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Trainer_exe_runs_a_file_spec_end_to_end_and_writes_result_json_with_artifacts()
    {
        using var dir = new TempDirectory();
        var root = dir.Combine("storage");
        var manifest = TinyTextDataset.Write(root);
        var spec = TinyTextDataset.WriteSpec(dir.Combine("spec.json"), TinyTextDataset.Spec(manifest, "exe", steps: 12, checkpointEvery: 6, export: true));

        var (code, stdout, stderr) = await RunTrainer("run", "--spec", spec, "--local-root", root, "--work", dir.Combine("work"));

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("succeeded run-test/exe steps=12", stdout);
        Assert.Contains("checkpoint saved", stderr);
        var resultFile = Path.Combine(root, "runs", "run-test", "exe", "result.json");
        var result = JsonSerializer.Deserialize<JobResult>(File.ReadAllText(resultFile), PipelineJson.Options)!;
        Assert.Equal(JobResult.Statuses.Succeeded, result.Status);
        foreach (var (name, blob) in result.Artifacts)
        {
            Assert.True(File.Exists(Path.Combine(root, blob)) || Directory.Exists(Path.Combine(root, blob)), $"{name} -> {blob} was not written");
        }

        Assert.Contains("encoder.onnx", result.Artifacts.Keys);
        Assert.True(File.Exists(Path.Combine(root, "runs", "run-test", "exe", "spec.json")));
        Assert.Contains("\"message\":\"job succeeded\"", File.ReadAllText(Path.Combine(root, "runs", "run-test", "exe", "logs.jsonl")));
    }

    [Fact]
    public async Task Trainer_exe_without_storage_explains_what_to_set()
    {
        var (code, _, stderr) = await RunTrainer("run", "--spec", "runs/r/j/spec.json");
        Assert.Equal(2, code);
        Assert.Contains("PIPELINE_STORAGE_CONNECTION", stderr);
    }
}
