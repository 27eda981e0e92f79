using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Core.Text;
using Pipeline.Training.Checkpoints;
using Pipeline.Training.Export;
using Pipeline.Training.Jobs;
using Pipeline.Training.Models.Text;
using Pipeline.Training.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Text;

/// <summary>
/// Masked-language-model pretraining of the text encoder (BERT objective). The loop, in order: batch -> mask ->
/// forward -> loss on the chosen positions -> backward (x accumulation) -> clip -> AdamW step at the scheduled rate
/// -> log -> evaluate -> checkpoint. A checkpoint holds the model, the optimizer moments, the data position and every
/// random state, so a killed job resumes to exactly the weights the uninterrupted job would have reached (on CPU).
/// </summary>
public sealed class MlmTrainer : IObjectiveTrainer
{
    public string Objective => Objectives.Mlm;

    /// <summary>The export step (ONNX + parity by default).</summary>
    public IMlmExporter Exporter { get; init; } = new OnnxMlmExporter();

    public async Task<ObjectiveOutcome> RunAsync(TrainingContext ctx, CancellationToken ct)
    {
        var spec = ctx.Spec;
        var opt = spec.Optimization;
        var settings = ctx.Settings<MlmSettings>();
        var log = ctx.Log;
        if (ctx.Manifest.Vocab is not { Length: > 0 } vocabBlob)
        {
            throw new InvalidDataException($"Dataset {ctx.Manifest.Dataset}/{ctx.Manifest.Version} has no vocab.txt; MLM needs a text dataset.");
        }

        var vocabFile = ctx.LocalFile(vocabBlob);
        var vocab = MlmVocabulary.Load(vocabFile);
        var config = ResolveConfig(spec.TextModel, vocab, log);
        var length = Math.Min(settings.SequenceLength, config.MaxPositions);
        var collator = new MaskingCollator(settings.Masking, vocab);
        var train = new TokenSequenceLoader(ReadShards(ctx, ctx.Manifest.TrainShards), length, vocab, opt.Seed, shuffle: true);
        var validationShards = ctx.Manifest.ValidationShards.Count > 0 ? ctx.Manifest.ValidationShards : ctx.Manifest.TrainShards;
        var validation = new TokenSequenceLoader(ReadShards(ctx, validationShards), length, vocab, opt.Seed, shuffle: false);
        var unigramId = MostFrequentToken(ctx, ctx.Manifest.TrainShards, vocab);
        log.Info("mlm data", new { trainChunks = train.ChunkCount, trainTokens = train.TokenCount, validationChunks = validation.ChunkCount, length, vocab = vocab.Size });

        // The seed fixes the initial weights, so encoder-random.onnx is the same network a resumed job started from.
        torch.manual_seed(opt.Seed);
        using var initial = new MaskedLanguageModel(config);
        using var model = new MaskedLanguageModel(config);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
            {
                p.copy_(initial.get_parameter(name)!);
            }
        }

        model.to(ctx.Device);
        using var optimizer = new AdamW(model.named_parameters(), new AdamWOptions(opt.Beta1, opt.Beta2, opt.Epsilon, opt.WeightDecay));
        var schedule = new LearningRateSchedule(opt.LearningRate, opt.WarmupSteps, opt.Steps, opt.Schedule);
        var masking = ctx.CreateRandom("masking");
        torch.manual_seed(opt.Seed + 1);
        var state = new MlmTrainingState();

        var checkpointFolder = Path.Combine(ctx.WorkFolder, "checkpoint");
        if (await ctx.Checkpoints.RestoreLatestAsync(checkpointFolder, ct).ConfigureAwait(false) is { } restored)
        {
            state = Restore(checkpointFolder, model, optimizer, train, masking);
            log.Info("resumed from checkpoint", new { step = restored, train.Position.Epoch, train.Position.Cursor });
        }

        var step = state.Step;
        var stoppedByTime = false;
        // Budgeted training: the share of this launch's wall-clock budget used so far, added to what earlier launches used.
        var started = DateTimeOffset.UtcNow;
        var timeAtStart = state.TimeProgress;
        Func<double>? timeProgress = settings.ScheduleByTime && ctx.Deadline is { } deadline && deadline > started
            ? () => timeAtStart + ((DateTimeOffset.UtcNow - started) / (deadline - started))
            : null;
        var lastEvalStep = -1L;
        log.Info("mlm training", new { from = step, to = opt.Steps, opt.BatchSize, opt.GradientAccumulation, opt.LearningRate, opt.Schedule, scheduleByTime = timeProgress is not null, noDecay = optimizer.NoDecay.Count() });
        while (step < opt.Steps)
        {
            ct.ThrowIfCancellationRequested();
            if (ctx.DeadlineReached)
            {
                stoppedByTime = true;
                log.Warn("wall-clock limit reached; stopping and exporting", new { step });
                break;
            }

            step++;
            if (timeProgress is not null)
            {
                state.TimeProgress = Math.Max(state.TimeProgress, timeProgress());
            }

            var lr = schedule.At(step, state.TimeProgress);
            var trainLoss = TrainStep(model, optimizer, train, collator, masking, opt, lr, ctx.Device);
            state.TrainLoss.Add(new LossPoint(step, trainLoss));
            ctx.Progress.Report(step, opt.Steps, trainLoss);
            if (step % Math.Max(1, opt.LogEvery) == 0 || step == 1)
            {
                log.Info("step", new { step, loss = Math.Round(trainLoss, 5), lr, train.Position.Epoch });
            }

            if (opt.EvalEvery > 0 && step % opt.EvalEvery == 0)
            {
                var metrics = Evaluate(model, validation, collator, settings, opt, ctx.Device, unigramId);
                state.Validation.Add(new LossPoint(step, metrics.Loss));
                lastEvalStep = step;
                log.Info("validation", new { step, metrics.Loss, metrics.Perplexity, metrics.MaskedAccuracy });
            }

            if (opt.CheckpointEvery > 0 && step % opt.CheckpointEvery == 0 && step < opt.Steps)
            {
                await SaveCheckpointAsync(ctx, checkpointFolder, step, model, optimizer, train, masking, state, ct).ConfigureAwait(false);
            }
        }

        // The final checkpoint: the trained weights survive even if export fails, and a relaunch skips training.
        state.Step = step;
        await SaveCheckpointAsync(ctx, checkpointFolder, step, model, optimizer, train, masking, state, ct).ConfigureAwait(false);
        var final = Evaluate(model, validation, collator, settings, opt, ctx.Device, unigramId);
        if (lastEvalStep != step)
        {
            state.Validation.Add(new LossPoint(step, final.Loss));
        }

        log.Info("final validation", new { step, final.Loss, final.Perplexity, final.MaskedAccuracy, final.UnigramAccuracy });

        var artifacts = new Dictionary<string, string>();
        Int8Report? int8 = null;
        var configFile = Path.Combine(ctx.OutputFolder, "config.json");
        await File.WriteAllTextAsync(configFile, ModelConfigJson(ctx, config, length, settings), ct).ConfigureAwait(false);
        artifacts["config.json"] = configFile;
        var vocabOut = Path.Combine(ctx.OutputFolder, "vocab.txt");
        File.Copy(vocabFile, vocabOut, overwrite: true);
        artifacts["vocab.txt"] = vocabOut;
        var plot = Path.Combine(ctx.OutputFolder, "loss-curve.png");
        LossCurvePlot.Save(plot, $"MLM {spec.RunId}/{spec.JobId}", state.TrainLoss, state.Validation);
        artifacts["loss-curve.png"] = plot;
        if (spec.Export)
        {
            model.to(torch.CPU);
            foreach (var (name, file) in Exporter.Export(model, initial, ctx.OutputFolder, HeldOutBatches(validation, vocab), log))
            {
                artifacts[name] = file;
            }

            int8 = ExportInt8(artifacts, validation, ctx.OutputFolder, log);
        }

        return new ObjectiveOutcome
        {
            Steps = step,
            StoppedByTimeLimit = stoppedByTime,
            ValidationMetric = "val_loss",
            ValidationValue = final.Loss,
            HigherIsBetter = false,
            Metrics = new Dictionary<string, double>
            {
                ["val_loss"] = final.Loss,
                ["val_perplexity"] = final.Perplexity,
                ["masked_accuracy"] = final.MaskedAccuracy,
                ["unigram_accuracy"] = final.UnigramAccuracy,
                ["masked_tokens"] = final.MaskedTokens,
                ["train_loss"] = state.TrainLoss.Count > 0 ? state.TrainLoss[^1].Loss : double.NaN,
            }.Concat(int8?.ToMetrics() ?? new Dictionary<string, double>()).ToDictionary(),
            Artifacts = artifacts,
            LossCurve = state.TrainLoss,
            ValidationCurve = state.Validation,
        };
    }

    /// <summary>
    /// The int8 variant (dynamic quantisation of the MatMul weights) measured against fp32 on held-out validation text;
    /// int8.json is always published, encoder.int8.onnx / mlm.int8.onnx only when the change is within tolerance.
    /// </summary>
    private static Int8Report? ExportInt8(Dictionary<string, string> artifacts, TokenSequenceLoader validation, string folder, JobLog log)
    {
        if (!artifacts.TryGetValue("encoder.onnx", out var encoder))
        {
            return null;
        }

        var heldOut = validation.OnePass(8).Take(8).Select(b => new TokenBatch(b.Ids, b.AttentionMask, b.Rows, validation.Length)).ToList();
        if (heldOut.Count == 0)
        {
            log.Warn("no held-out text to measure an int8 variant on; none published");
            return null;
        }

        var report = Int8Variant.Create(encoder, artifacts.GetValueOrDefault("mlm.onnx"), heldOut);
        var json = Path.Combine(folder, Int8Variant.ReportFile);
        report.WriteJson(json);
        artifacts[Int8Variant.ReportFile] = json;
        if (report.Passed)
        {
            artifacts[Int8Variant.EncoderFile] = Path.Combine(folder, Int8Variant.EncoderFile);
            if (artifacts.ContainsKey("mlm.onnx"))
            {
                artifacts[Int8Variant.MlmFile] = Path.Combine(folder, Int8Variant.MlmFile);
            }
        }

        log.Info("int8 variant", new { report.Passed, report.Failure, report.EmbeddingCosineMean, report.EmbeddingCosineMin, report.FillMaskTop1Agreement, report.Speedup });
        return report;
    }

    /// <summary>
    /// One optimizer step, exactly as training runs it (bench/mlm times this method): for each micro-batch, batch ->
    /// mask -> forward -> loss on the chosen positions -> backward; then clip, AdamW at <paramref name="learningRate"/>,
    /// zero the gradients. Returns the mean training loss of the micro-batches.
    /// </summary>
    public static double TrainStep(MaskedLanguageModel model, AdamW optimizer, TokenSequenceLoader train,
        MaskingCollator collator, JobRandom masking, OptimizationOptions opt, double learningRate, Device device)
    {
        model.train();
        double lossSum = 0;
        for (var micro = 0; micro < opt.GradientAccumulation; micro++)
        {
            using var scope = NewDisposeScope();
            var (ids, attention) = train.Next(opt.BatchSize);
            var batch = collator.Apply(ids, attention, opt.BatchSize, train.Length, masking);
            var (loss, _, _) = MaskedLoss(model, batch, device, withAccuracy: false);
            (opt.GradientAccumulation == 1 ? loss : loss / opt.GradientAccumulation).backward();
            lossSum += loss.item<float>();
        }

        // Clip (as nn.utils.clip_grad_norm_) and AdamW in one pass per parameter on the CPU (see AdamW.Step).
        optimizer.Step(learningRate, maxGradNorm: opt.GradientClip);
        optimizer.ZeroGrad();
        return lossSum / opt.GradientAccumulation;
    }

    /// <summary>
    /// Real validation rows for the export's parity check: the first <paramref name="rows"/> packed sequences as one
    /// batch (padded to the longest) and the shortest of them alone, each cut to its real tokens.
    /// </summary>
    public static IReadOnlyList<TextBatch> HeldOutBatches(TokenSequenceLoader validation, MlmVocabulary vocab, int rows = 4)
    {
        foreach (var (ids, attention, count) in validation.OnePass(rows))
        {
            var real = Enumerable.Range(0, count)
                .Select(r => (IReadOnlyList<long>)ids.AsSpan(r * validation.Length, validation.Length).ToArray()
                    .Where((_, t) => attention[(r * validation.Length) + t] != 0).ToArray())
                .Where(r => r.Count > 0)
                .ToList();
            if (real.Count == 0)
            {
                break;
            }

            return
            [
                TextBatch.FromRows($"validation rows b{real.Count}", real, vocab.Pad),
                TextBatch.FromRows("validation row b1", [real.MinBy(r => r.Count)!], vocab.Pad),
            ];
        }

        return [];
    }

    /// <summary>Cross-entropy over the chosen positions only (the vocabulary projection runs on ~15% of tokens).</summary>
    public static (Tensor Loss, long Correct, long Count) MaskedLoss(MaskedLanguageModel model, MaskedBatch batch, Device device, bool withAccuracy)
    {
        using var scope = NewDisposeScope();
        var ids = tensor(batch.InputIds, [batch.Batch, batch.Length], device: device);
        var attention = tensor(batch.AttentionMask, [batch.Batch, batch.Length], device: device);
        var types = zeros([batch.Batch, batch.Length], ScalarType.Int64, device: device);
        var positions = tensor(batch.MaskedPositions, device: device);
        var labels = tensor(batch.MaskedPositions.Select(p => batch.Labels[p]).ToArray(), device: device);
        var hidden = model.encoder.forward(ids, attention, types);
        var chosen = hidden.view(-1, hidden.shape[2]).index_select(0, positions);
        var logits = model.Head(chosen);
        var loss = nn.functional.cross_entropy(logits, labels);
        long correct = 0;
        if (withAccuracy)
        {
            correct = logits.argmax(1).eq(labels).sum().item<long>();
        }

        return (loss.MoveToOuterDisposeScope(), correct, batch.MaskedPositions.Length);
    }

    /// <summary>Validation: the same masking every time (fixed seed), so evaluations compare.</summary>
    public static MlmMetrics Evaluate(MaskedLanguageModel model, TokenSequenceLoader validation, MaskingCollator collator, MlmSettings settings, OptimizationOptions opt, Device device, int unigramId)
    {
        var wasTraining = model.training;
        model.eval();
        var random = JobRandom.Create(opt.Seed, "validation-masking");
        double lossSum = 0;
        long correct = 0, count = 0, unigramHits = 0;
        using (no_grad())
        {
            var batches = 0;
            foreach (var (ids, attention, rows) in validation.OnePass(opt.BatchSize))
            {
                if (batches++ >= settings.ValidationBatches)
                {
                    break;
                }

                var batch = collator.Apply(ids, attention, rows, validation.Length, random);
                var (loss, c, n) = MaskedLoss(model, batch, device, withAccuracy: true);
                using (loss)
                {
                    lossSum += loss.item<float>() * n;
                }

                correct += c;
                count += n;
                unigramHits += batch.MaskedPositions.Count(p => batch.Labels[p] == unigramId);
            }
        }

        model.train(wasTraining);
        var mean = count > 0 ? lossSum / count : double.NaN;
        return new MlmMetrics(mean, Math.Exp(mean), count > 0 ? (double)correct / count : 0, count > 0 ? (double)unigramHits / count : 0, count);
    }

    private static TextEncoderConfig ResolveConfig(TextEncoderConfig? requested, MlmVocabulary vocab, JobLog log)
    {
        var config = requested ?? new TextEncoderConfig();
        if (config.VocabSize != vocab.Size || config.PadTokenId != vocab.Pad)
        {
            if (requested is not null && config.VocabSize != vocab.Size)
            {
                log.Info("vocabulary size taken from the dataset", new { spec = config.VocabSize, vocab = vocab.Size });
            }

            config = config with { VocabSize = vocab.Size, PadTokenId = vocab.Pad };
        }

        return config.Validate();
    }

    private static List<TokenShardData> ReadShards(TrainingContext ctx, IEnumerable<ShardInfo> shards) =>
        shards.Select(s => TokenShard.Read(File.ReadAllBytes(ctx.LocalFile(s.Path)))).ToList();

    /// <summary>The unigram baseline: always guess the most frequent ordinary token of the training split.</summary>
    private static int MostFrequentToken(TrainingContext ctx, IEnumerable<ShardInfo> shards, MlmVocabulary vocab)
    {
        var counts = new long[vocab.Size];
        foreach (var shard in ReadShards(ctx, shards))
        {
            foreach (var id in shard.Ids)
            {
                counts[id]++;
            }
        }

        var best = -1;
        for (var i = 0; i < counts.Length; i++)
        {
            if (!vocab.IsSpecial[i] && (best < 0 || counts[i] > counts[best]))
            {
                best = i;
            }
        }

        return best;
    }

    private static string ModelConfigJson(TrainingContext ctx, TextEncoderConfig config, int length, MlmSettings settings)
    {
        JsonElement? normalization = null;
        if (ctx.Manifest.Extra is { } extra)
        {
            foreach (var (key, value) in extra)
            {
                if (string.Equals(key, "normalization", StringComparison.OrdinalIgnoreCase))
                {
                    normalization = value;
                }
            }
        }

        var doc = new
        {
            architecture = "bert-style-text-encoder",
            objective = Objectives.Mlm,
            maxSequenceLength = length,
            model = config,
            normalization = (object?)normalization ?? TextNormalization.Default,
            masking = settings.Masking,
            dataset = new { ctx.Manifest.Dataset, ctx.Manifest.Version },
            optimization = ctx.Spec.Optimization,
            onnx = new { inputs = new[] { "input_ids", "attention_mask", "token_type_ids" }, outputs = new[] { "last_hidden_state", "sentence_embedding" } },
        };
        return JsonSerializer.Serialize(doc, PipelineJson.Options);
    }

    private static async Task SaveCheckpointAsync(TrainingContext ctx, string folder, long step, MaskedLanguageModel model, AdamW optimizer,
        TokenSequenceLoader train, JobRandom masking, MlmTrainingState state, CancellationToken ct)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(folder);
        TensorArchive.WriteModule(Path.Combine(folder, "model.bin"), model);
        TensorArchive.Write(Path.Combine(folder, "optimizer.bin"), optimizer.State());
        using (var rng = torch.get_rng_state())
        {
            TensorArchive.Write(Path.Combine(folder, "rng.bin"), [("torch", rng)]);
        }

        state.Step = step;
        state.Epoch = train.Position.Epoch;
        state.Cursor = train.Position.Cursor;
        state.MaskingRandom = masking.State;
        await File.WriteAllTextAsync(Path.Combine(folder, "state.json"), JsonSerializer.Serialize(state, PipelineJson.Options), ct).ConfigureAwait(false);
        var saved = await ctx.Checkpoints.SaveAsync(step, folder, ct).ConfigureAwait(false);
        ctx.Log.Info("checkpoint saved", new { step, path = saved.ToString() });
    }

    private static MlmTrainingState Restore(string folder, MaskedLanguageModel model, AdamW optimizer, TokenSequenceLoader train, JobRandom masking)
    {
        TensorArchive.ReadModule(Path.Combine(folder, "model.bin"), model);
        var opt = TensorArchive.Read(Path.Combine(folder, "optimizer.bin"));
        optimizer.LoadState(opt);
        foreach (var t in opt.Values)
        {
            t.Dispose();
        }

        var rng = TensorArchive.Read(Path.Combine(folder, "rng.bin"));
        torch.set_rng_state(rng["torch"]);
        rng["torch"].Dispose();
        var state = JsonSerializer.Deserialize<MlmTrainingState>(File.ReadAllText(Path.Combine(folder, "state.json")), PipelineJson.Options)!;
        train.Position = new LoaderPosition(state.Epoch, state.Cursor);
        masking.State = state.MaskingRandom;
        return state;
    }
}

/// <summary>Validation metrics: mean loss over masked tokens, perplexity, top-1 accuracy, and the unigram baseline's accuracy.</summary>
public sealed record MlmMetrics(double Loss, double Perplexity, double MaskedAccuracy, double UnigramAccuracy, long MaskedTokens);

/// <summary>state.json of an MLM checkpoint: position, random state and the curves so far.</summary>
public sealed class MlmTrainingState
{
    public long Step { get; set; }

    public int Epoch { get; set; }

    public int Cursor { get; set; }

    public ulong MaskingRandom { get; set; }

    /// <summary>Share of the wall-clock budget used by the launches so far (the time-based schedule); 0 without a limit.</summary>
    public double TimeProgress { get; set; }

    public List<LossPoint> TrainLoss { get; set; } = [];

    public List<LossPoint> Validation { get; set; } = [];
}
