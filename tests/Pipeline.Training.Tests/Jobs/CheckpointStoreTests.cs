using Pipeline.Testing;
using Pipeline.Training.Checkpoints;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Tests.Jobs;

public class CheckpointStoreTests
{
    private static string Folder(TempDirectory dir, string name, string content)
    {
        var folder = dir.Combine(name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "model.bin"), content);
        File.WriteAllText(Path.Combine(folder, "state.json"), "{}");
        return folder;
    }

    [Fact]
    public async Task Restore_takes_the_newest_complete_checkpoint_and_ignores_half_written_or_corrupt_ones()
    {
        using var dir = new TempDirectory();
        var storage = new LocalJobStorage(dir.Combine("storage"));
        var store = CheckpointStore.ForJob(storage, "r", "j", keep: 3);
        await store.SaveAsync(10, Folder(dir, "a", "ten"), default);
        await store.SaveAsync(20, Folder(dir, "b", "twenty"), default);
        await store.SaveAsync(30, Folder(dir, "c", "thirty"), default);

        // Step 40 was cut off before its marker; step 30's model was damaged after it was written.
        var step40 = storage.FileOf(new("runs", "r/j/checkpoints/step-00000040/model.bin"));
        Directory.CreateDirectory(Path.GetDirectoryName(step40)!);
        File.WriteAllText(step40, "forty");
        File.WriteAllText(storage.FileOf(new("runs", "r/j/checkpoints/step-00000030/model.bin")), "garbage");

        var restoreTo = dir.Combine("restore");
        Assert.Equal(20, await store.RestoreLatestAsync(restoreTo, default));
        Assert.Equal("twenty", File.ReadAllText(Path.Combine(restoreTo, "model.bin")));
    }

    [Fact]
    public async Task Saving_keeps_only_the_newest_checkpoints()
    {
        using var dir = new TempDirectory();
        var storage = new LocalJobStorage(dir.Combine("storage"));
        var store = CheckpointStore.ForJob(storage, "r", "j", keep: 2);
        for (var step = 1; step <= 4; step++)
        {
            await store.SaveAsync(step * 10, Folder(dir, $"s{step}", $"{step}"), default);
        }

        Assert.Equal([30L, 40L], await store.CompleteStepsAsync(default));
        Assert.Null(await CheckpointStore.ForJob(storage, "r", "other").RestoreLatestAsync(dir.Combine("none"), default));
    }
}
