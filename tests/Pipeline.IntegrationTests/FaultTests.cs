using System.Diagnostics;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Hosting;
using Pipeline.Orchestration.Jobs;
using Pipeline.Orchestration.Sealing;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests;

/// <summary>Faults the pipeline must survive, on Azurite with the real Durable engine and trainer child processes.</summary>
[Collection(AzuriteCollection.Name)]
[Trait("Category", "Faults")]
public sealed class FaultTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_killed_trainer_is_relaunched_resumes_from_its_checkpoint_and_the_run_publishes()
    {
        using var temp = new TempDirectory("faults");
        var pipeline = DemoDefaults.Pipeline(steps: 200);
        await using var host = await LocalPipelineHost.StartAsync(PipelineRun.Options(azurite, temp, PipelineRun.TaskHub("faults"), pipeline));
        const string dataset = "fault-corpus";
        await PipelineRun.UploadCorpusAsync(host, dataset);
        await PipelineRun.UntilAsync(async () => await PipelineRun.CountIndexEntriesAsync(host, dataset) == 4, TimeSpan.FromSeconds(90), "ingestion");
        // Seal by marker blob this time.
        await host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled).GetBlobClient(SealMarker.For(dataset).Name).UploadAsync(BinaryData.FromString("seal"));
        var instanceId = IngestInstanceIds.ForPretrain(dataset, "1");

        // Kill the trainer once it has checkpointed (a preempted GPU job looks the same to the orchestration).
        await PipelineRun.UntilAsync(async () => await PipelineRun.CountCompleteCheckpointsAsync(host, instanceId, "mlm-tiny") > 0,
            TimeSpan.FromMinutes(2), "the first checkpoint");
        var launcher = (LocalProcessLauncher)host.Launcher;
        using (var trainer = Process.GetProcessById(Assert.Single(launcher.RunningChildren)))
        {
            trainer.Kill(entireProcessTree: true);
        }

        var status = await PipelineRun.WaitForRunAsync(host, instanceId, TimeSpan.FromMinutes(3));

        Assert.True(status.RuntimeStatus == "Completed", $"{status.RuntimeStatus}: {status.Failure}");
        var result = status.ReadOutput<PretrainResult>()!;
        var job = Assert.Single(result.Jobs);
        Assert.Equal(2, job.Attempts);
        Assert.StartsWith("attempt 1:", Assert.Single(job.Failures), StringComparison.Ordinal);
        Assert.Equal(200, job.Summary!.Steps);
        Assert.True(Assert.Single(result.Published).Published);
        var first = await File.ReadAllTextAsync(temp.Combine("jobs", instanceId, "mlm-tiny-1.log"));
        var second = await File.ReadAllTextAsync(temp.Combine("jobs", instanceId, "mlm-tiny-2.log"));
        Assert.DoesNotContain("resumed from checkpoint", first, StringComparison.Ordinal);
        Assert.Contains("resumed from checkpoint", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_stopped_mid_run_and_restarted_continues_the_orchestration_from_its_history_and_publishes()
    {
        using var temp = new TempDirectory("restart");
        var options = PipelineRun.Options(azurite, temp, PipelineRun.TaskHub("restart"), DemoDefaults.Pipeline(steps: 200));
        const string dataset = "restart-corpus";
        string instanceId;
        var host = await LocalPipelineHost.StartAsync(options);
        try
        {
            await PipelineRun.UploadCorpusAsync(host, dataset);
            await PipelineRun.UntilAsync(async () => await PipelineRun.CountIndexEntriesAsync(host, dataset) == 4, TimeSpan.FromSeconds(90), "ingestion");
            instanceId = await PipelineRun.SealOverHttpAsync(host, dataset);
            await PipelineRun.UntilAsync(async () => await PipelineRun.CountCompleteCheckpointsAsync(host, instanceId, "mlm-tiny") > 0,
                TimeSpan.FromMinutes(2), "the first checkpoint");
        }
        finally
        {
            // Stops the engine mid-orchestration; the trainer child dies with the host.
            await host.StopAsync();
        }

        // The restarted engine first waits out the stopped host's partition leases (Azure Storage backend), then the
        // trainer is relaunched and resumes: minutes on a busy 2-core machine, hence the generous limit.
        await using var restarted = await LocalPipelineHost.StartAsync(options);
        var status = await PipelineRun.WaitForRunAsync(restarted, instanceId, TimeSpan.FromMinutes(5));

        Assert.True(status.RuntimeStatus == "Completed", $"{status.RuntimeStatus}: {status.Failure}");
        var result = status.ReadOutput<PretrainResult>()!;
        var job = Assert.Single(result.Jobs);
        Assert.Equal(2, job.Attempts);
        Assert.Equal(200, job.Summary!.Steps);
        Assert.True(Assert.Single(result.Published).Published);
        Assert.Contains("resumed from checkpoint", await File.ReadAllTextAsync(temp.Combine("jobs", instanceId, "mlm-tiny-2.log")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_bytes_uploaded_twice_and_the_same_event_delivered_twice_are_ingested_once()
    {
        using var temp = new TempDirectory("dedupe");
        await using var host = await LocalPipelineHost.StartAsync(PipelineRun.Options(azurite, temp, PipelineRun.TaskHub("dedupe")));
        const string dataset = "dedupe-corpus";
        var unlabeled = host.Blobs.GetBlobContainerClient(BlobLayout.Unlabeled);
        var text = DemoDefaults.Corpus(files: 1)[0].Text;
        await unlabeled.GetBlobClient($"{dataset}/a.txt").UploadAsync(BinaryData.FromString(text));
        await PipelineRun.UntilAsync(async () => await PipelineRun.CountIndexEntriesAsync(host, dataset) == 1,
            TimeSpan.FromSeconds(60), "the first upload");

        // The same event again (Event Grid delivers at least once) and the same bytes re-uploaded at the same path.
        var again = await host.Api.IngestAsync(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/a.txt"), null, default);
        await unlabeled.GetBlobClient($"{dataset}/a.txt").UploadAsync(BinaryData.FromString(text), overwrite: true);
        var reupload = await host.Api.IngestAsync(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/a.txt"), null, default);
        // The same bytes under another name: accepted as a duplicate, not as new content.
        await unlabeled.GetBlobClient($"{dataset}/copy-of-a.txt").UploadAsync(BinaryData.FromString(text));
        var copy = await host.Api.IngestAsync(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/copy-of-a.txt"), null, default);
        string? copyStatus = null;
        if (copy is not null)
        {
            copyStatus = (await PipelineRun.WaitForRunAsync(host, copy, TimeSpan.FromSeconds(60))).ReadOutput<IngestBlobResult>()!.Status;
        }
        else
        {
            // The watcher got there first: find its instance by the same deterministic id.
            var props = await unlabeled.GetBlobClient($"{dataset}/copy-of-a.txt").GetPropertiesAsync();
            var id = IngestInstanceIds.ForUpload(new BlobPath(BlobLayout.Unlabeled, $"{dataset}/copy-of-a.txt"),
                Pipeline.Orchestration.Services.PipelineApi.ContentIdentity(props.Value.ContentHash, props.Value.ETag.ToString()));
            copyStatus = (await PipelineRun.WaitForRunAsync(host, id, TimeSpan.FromSeconds(60))).ReadOutput<IngestBlobResult>()!.Status;
        }

        Assert.Null(again);
        Assert.Null(reupload);
        Assert.Equal(IngestBlobResult.Statuses.Duplicate, copyStatus);
        Assert.Equal(1, await PipelineRun.CountIndexEntriesAsync(host, dataset));
    }
}
