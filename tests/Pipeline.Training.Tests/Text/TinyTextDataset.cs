using System.Security.Cryptography;
using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Core.Storage;

namespace Pipeline.Training.Tests.Text;

/// <summary>
/// A tiny, learnable text dataset written the way ingestion writes one (vocab.txt, token shards, manifest.json) under
/// {root}/datasets/tiny/v1/, plus job specs for it. Each document repeats one random word, so a masked word is
/// predictable from its context (far above the unigram baseline) and the loss must fall fast.
/// </summary>
public static class TinyTextDataset
{
    public const int Words = 24;

    public static IReadOnlyList<string> Vocabulary { get; } =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Enumerable.Range(0, Words).Select(i => $"w{i}"), "##s", "##ed"];

    public static TextEncoderConfig Model { get; } = new()
    {
        VocabSize = Vocabulary.Count, Hidden = 32, Heads = 2, Layers = 2, Intermediate = 64, MaxPositions = 32, Dropout = 0.0, AttentionDropout = 0.0,
    };

    public static List<int[]> Documents(int count, int seed)
    {
        var random = new Random(seed);
        var docs = new List<int[]>();
        for (var d = 0; d < count; d++)
        {
            // A document repeats one word, so a masked word is predictable from the words around it.
            var length = random.Next(6, 30);
            var word = 5 + random.Next(Words);
            docs.Add(Enumerable.Repeat(word, length).ToArray());
        }

        return docs;
    }

    /// <summary>Writes the dataset under {root} (LocalJobStorage layout) and returns the manifest blob path.</summary>
    public static string Write(string root, int trainDocs = 400, int validationDocs = 40)
    {
        var prefix = BlobLayout.DatasetVersionPrefix("tiny", "v1");
        var folder = Path.Combine(root, BlobLayout.Datasets, "tiny", "v1");
        Directory.CreateDirectory(folder);
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), Vocabulary);
        ShardInfo Shard(string name, List<int[]> docs)
        {
            var file = Path.Combine(folder, name);
            using (var stream = File.Create(file))
            {
                TokenShard.Write(stream, docs, Vocabulary.Count);
            }

            var bytes = File.ReadAllBytes(file);
            return new ShardInfo($"{BlobLayout.Datasets}/{prefix}{name}", Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length, docs.Count, docs.Sum(d => d.Length));
        }

        var manifest = new DatasetManifest
        {
            Kind = "text",
            Dataset = "tiny",
            Version = "v1",
            Vocab = BlobLayout.DatasetVocab("tiny", "v1").ToString(),
            VocabSize = Vocabulary.Count,
            TrainShards = [Shard("train-00000.bin", Documents(trainDocs, 1))],
            ValidationShards = [Shard("validation-00000.bin", Documents(validationDocs, 2))],
        };
        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, PipelineJson.Options));
        return BlobLayout.DatasetManifest("tiny", "v1").ToString();
    }

    public static JobSpec Spec(string manifest, string jobId, int steps, int checkpointEvery, bool export = false, object? settings = null) => new()
    {
        RunId = "run-test",
        JobId = jobId,
        Objective = Objectives.Mlm,
        DatasetManifest = manifest,
        TextModel = Model,
        Export = export,
        Device = "cpu",
        Threads = 1,
        Settings = JsonSerializer.SerializeToElement(settings ?? new { sequenceLength = 32, validationBatches = 4 }, PipelineJson.Options),
        Optimization = new OptimizationOptions
        {
            Steps = steps,
            BatchSize = 8,
            GradientAccumulation = 2,
            LearningRate = 1e-2,
            WarmupSteps = 10,
            Schedule = "cosine",
            CheckpointEvery = checkpointEvery,
            EvalEvery = 10,
            LogEvery = 10,
            Seed = 7,
        },
    };

    public static string WriteSpec(string path, JobSpec spec)
    {
        File.WriteAllText(path, JsonSerializer.Serialize(spec, PipelineJson.Options));
        return path;
    }
}
