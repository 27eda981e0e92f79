using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Training.Jobs;
using Pipeline.Training.Models.Text;
using Pipeline.Training.Optim;
using Pipeline.Training.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Text;

/// <summary>
/// The whole MLM training step (loader -> collator -> encoder -> head -> loss -> clip -> AdamW) must be able to memorise
/// a handful of fixed sentences of random tokens. Unlike the repeat-one-word corpus, a masked token here is predictable
/// only from which sentence it is in and where: it needs attention and the position embeddings to work.
/// </summary>
public class MlmOverfitTests
{
    [Fact]
    public void A_tiny_model_memorises_eight_random_sentences()
    {
        const int vocabSize = 64, length = 18;
        var vocab = MlmVocabulary.FromTokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Enumerable.Range(0, vocabSize - 5).Select(i => $"t{i}")]);
        var random = new Random(5);
        var docs = Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, length - 2).Select(_ => random.Next(5, vocabSize)).ToArray()).ToList();
        using var stream = new MemoryStream();
        TokenShard.Write(stream, docs, vocabSize);
        var shard = TokenShard.Read(stream.ToArray());
        var loader = new TokenSequenceLoader([shard], length, vocab, seed: 1, shuffle: true);
        var collator = new MaskingCollator(new MaskingOptions(), vocab);

        torch.manual_seed(1);
        var config = new TextEncoderConfig { VocabSize = vocabSize, Hidden = 32, Heads = 2, Layers = 2, Intermediate = 64, MaxPositions = length, Dropout = 0, AttentionDropout = 0 };
        using var model = new MaskedLanguageModel(config);
        var opt = new OptimizationOptions { BatchSize = 8, LearningRate = 1e-2, WarmupSteps = 20, Steps = 600 };
        using var optimizer = new AdamW(model.named_parameters(), new AdamWOptions(WeightDecay: 0.01));
        var schedule = new LearningRateSchedule(opt.LearningRate, opt.WarmupSteps, opt.Steps, "linear");
        var masking = JobRandom.Create(1, "masking");
        var losses = new List<double>();
        for (var step = 1; step <= opt.Steps; step++)
        {
            losses.Add(MlmTrainer.TrainStep(model, optimizer, loader, collator, masking, opt, schedule.At(step), CPU));
        }

        // Chance is ln(59) = 4.1. Without working attention or positions a masked token is only known up to which of the
        // 8 sentences it is in (loss ~ln 8 = 2.1); the same recipe in PyTorch (bench/mlm/overfit.py) ends at 0.13.
        var first = losses.Take(20).Average();
        var last = losses.TakeLast(50).Average();
        Assert.True(last < 0.5, $"loss {first:F3} -> {last:F3}: the model could not memorise 8 sentences");
    }
}
