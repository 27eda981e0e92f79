using System.Text.Json;
using Pipeline.Core;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Images;

/// <summary>
/// A checkpoint folder step-{n:D8}/ with encoder.bin, head.bin, optimizer.bin and state.json (written last: a folder
/// without it is incomplete and ignored). Batches and augmentations derive from (seed, step), so this is all resume needs.
/// </summary>
public static class ImageCheckpoint
{
    private const string StateFile = "state.json";

    public static string Save(
        string directory, int step, ImagePretrainer trainer, IReadOnlyList<LossPoint> losses, IReadOnlyList<MetricPoint>? knn = null, double timeProgress = 0)
    {
        var folder = Path.Combine(directory, $"step-{step:D8}");
        Directory.CreateDirectory(folder);
        trainer.Encoder.save(Path.Combine(folder, "encoder.bin"));
        trainer.Pretext.Head.save(Path.Combine(folder, "head.bin"));
        trainer.Optimizer.save_state_dict(Path.Combine(folder, "optimizer.bin"));
        var state = new CheckpointState(step, trainer.Config, losses) { Knn = knn ?? [], TimeProgress = timeProgress };
        File.WriteAllBytes(Path.Combine(folder, StateFile), JsonSerializer.SerializeToUtf8Bytes(state, PipelineJson.Options));
        // Keep the newest two locally; the durable copies live in the job's checkpoint store.
        foreach (var old in Directory.GetDirectories(directory, "step-*").OrderDescending(StringComparer.Ordinal).Skip(2))
        {
            Directory.Delete(old, recursive: true);
        }

        return folder;
    }

    /// <summary>Loads the newest complete checkpoint into the trainer; returns its step (0 when there is none).</summary>
    public static int TryLoadLatest(string directory, ImagePretrainer trainer, List<LossPoint> losses) =>
        TryLoadLatest(directory, trainer, losses, [], out _);

    /// <summary>Also restores the kNN history and the fraction of the time budget already used.</summary>
    public static int TryLoadLatest(string directory, ImagePretrainer trainer, List<LossPoint> losses, List<MetricPoint> knn, out double timeProgress)
    {
        timeProgress = 0;
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        var latest = Directory.GetDirectories(directory, "step-*")
            .Where(d => File.Exists(Path.Combine(d, StateFile)))
            .OrderByDescending(d => d, StringComparer.Ordinal)
            .FirstOrDefault();
        if (latest is null)
        {
            return 0;
        }

        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllBytes(Path.Combine(latest, StateFile)), PipelineJson.Options)!;
        if (state.Model != trainer.Config && JsonSerializer.Serialize(state.Model) != JsonSerializer.Serialize(trainer.Config))
        {
            throw new InvalidOperationException($"Checkpoint {latest} is for a different model; start a new job id or remove the checkpoints.");
        }

        trainer.Encoder.load(Path.Combine(latest, "encoder.bin"));
        trainer.Pretext.Head.load(Path.Combine(latest, "head.bin"));
        trainer.Optimizer.load_state_dict(Path.Combine(latest, "optimizer.bin"));
        losses.Clear();
        losses.AddRange(state.Losses);
        knn.Clear();
        knn.AddRange(state.Knn);
        timeProgress = state.TimeProgress;
        return state.Step;
    }

    private sealed record CheckpointState(int Step, ImageEncoderConfig Model, IReadOnlyList<LossPoint> Losses)
    {
        public IReadOnlyList<MetricPoint> Knn { get; init; } = [];

        /// <summary>Fraction of the wall-clock budget used when this checkpoint was written (the time-based schedule).</summary>
        public double TimeProgress { get; init; }
    }
}
