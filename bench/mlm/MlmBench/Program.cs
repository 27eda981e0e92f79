using System.Diagnostics;
using System.Globalization;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Training.Jobs;
using Pipeline.Training.Models.Text;
using Pipeline.Training.Optim;
using Pipeline.Training.Text;
using static TorchSharp.torch;

// MlmBench step <threads> <warmup> <timed> <batch> <seq> <vocab>
//   Times MlmTrainer.TrainStep (the trainer's own step: loader -> MaskingCollator -> MaskedLanguageModel forward ->
//   masked cross-entropy -> backward -> clip 1.0 -> AdamW) on synthetic token documents and prints
//   "STEPS_PER_S <x> masked_per_step=<m> final_loss=<l>", then "STEP_THREAD_CPU_MS min= p10= median=" (the calling
//   thread's CPU time per timed step; the whole step's cost at 1 thread).
//   With MLM_PROFILE=1 it prints "PROFILE_MS collate= forward= backward= clip= adamw=" (mean ms per step) instead.
// MlmBench sgemm <threads> <n> <reps>
//   Prints "SGEMM_GFLOPS <best of reps>" for an n x n x n float32 matmul (2 n^3 FLOPs).
static int Arg(string[] a, int i) => int.Parse(a[i], CultureInfo.InvariantCulture);

var threads = Arg(args, 1);
set_num_threads(threads);
set_num_interop_threads(1);
NativeAllocator.ConfigureForTraining(); // as the trainer process does (JobRunner) before it trains
if (args[0] == "sgemm")
{
    var (n, reps) = (Arg(args, 2), Arg(args, 3));
    manual_seed(1);
    using var a = randn(n, n);
    using var b = randn(n, n);
    using (no_grad())
    {
        mm(a, b).Dispose(); // warm-up
    }

    var best = double.MaxValue;
    for (var r = 0; r < reps; r++)
    {
        var clock = Stopwatch.StartNew();
        using (no_grad())
        {
            mm(a, b).Dispose();
        }

        best = Math.Min(best, clock.Elapsed.TotalSeconds);
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"SGEMM_GFLOPS {2.0 * n * n * n / best / 1e9:F1} n={n} threads={get_num_threads()}"));
    return 0;
}

var (warmup, timed, batch, seq, vocabSize) = (Arg(args, 2), Arg(args, 3), Arg(args, 4), Arg(args, 5), Arg(args, 6));
var tokens = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
tokens.AddRange(Enumerable.Range(tokens.Count, vocabSize - tokens.Count).Select(i => i % 3 == 0 ? $"##p{i}" : $"w{i}"));
var vocab = MlmVocabulary.FromTokens(tokens);

// Synthetic documents (Zipf-like ids) long enough that every sequence is full: [CLS] 62 tokens [SEP].
var random = new Random(7);
var docs = Enumerable.Range(0, 2000).Select(_ => Enumerable.Range(0, seq - 2)
    .Select(_ => 5 + (int)Math.Min(vocabSize - 6, Math.Floor(Math.Exp(random.NextDouble() * Math.Log(vocabSize - 5)) - 1))).ToArray()).ToArray();
var offsets = new long[docs.Length + 1];
for (var i = 0; i < docs.Length; i++)
{
    offsets[i + 1] = offsets[i] + docs[i].Length;
}

var shard = new TokenShardData(docs.SelectMany(d => d).ToArray(), offsets);
var opt = new OptimizationOptions
{
    Steps = warmup + timed, BatchSize = batch, LearningRate = 5e-4, WeightDecay = 0.01, WarmupSteps = 10, GradientClip = 1.0, Seed = 1,
};
var config = new TextEncoderConfig { VocabSize = vocabSize, MaxPositions = seq, Hidden = 128, Layers = 2, Heads = 4, Intermediate = 512 };
var loader = new TokenSequenceLoader([shard], seq, vocab, opt.Seed, shuffle: true);
var collator = new MaskingCollator(new MaskingOptions(), vocab);
var masking = JobRandom.Create(opt.Seed, "masking");
manual_seed(opt.Seed);
using var model = new MaskedLanguageModel(config);
using var optimizer = new AdamW(model.named_parameters(), new AdamWOptions(opt.Beta1, opt.Beta2, opt.Epsilon, opt.WeightDecay));
var schedule = new LearningRateSchedule(opt.LearningRate, opt.WarmupSteps, opt.Steps, opt.Schedule);
if (Environment.GetEnvironmentVariable("MLM_PROFILE") == "1")
{
    // Breakdown of one step's phases (ms, mean over the timed steps): collate, forward+loss, backward, clip, AdamW.
    var phases = new double[5];
    var w = new Stopwatch();
    for (var step = 1; step <= warmup + timed; step++)
    {
        model.train();
        using var scope = NewDisposeScope();
        w.Restart();
        var (ids, attention) = loader.Next(batch);
        var b = collator.Apply(ids, attention, batch, seq, masking);
        var t0 = w.Elapsed.TotalMilliseconds;
        var (l, _, _) = MlmTrainer.MaskedLoss(model, b, CPU, withAccuracy: false);
        var t1 = w.Elapsed.TotalMilliseconds;
        l.backward();
        l.item<float>();
        var t2 = w.Elapsed.TotalMilliseconds;
        var t3 = w.Elapsed.TotalMilliseconds; // the clip runs inside AdamW.Step now: clip= stays 0, adamw= has both
        optimizer.Step(1e-4, maxGradNorm: 1.0);
        optimizer.ZeroGrad();
        var t4 = w.Elapsed.TotalMilliseconds;
        if (step > warmup)
        {
            phases[0] += t0; phases[1] += t1 - t0; phases[2] += t2 - t1; phases[3] += t3 - t2; phases[4] += t4 - t3;
        }
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PROFILE_MS collate={phases[0] / timed:F2} forward={phases[1] / timed:F2} backward={phases[2] / timed:F2} clip={phases[3] / timed:F2} adamw={phases[4] / timed:F2}"));
    return 0;
}

var watch = new Stopwatch();
var cpuStart = TimeSpan.Zero;
double loss = 0;
var stepCpuMs = new List<double>();
for (var step = 1; step <= warmup + timed; step++)
{
    if (step == warmup + 1)
    {
        watch.Start();
        cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
    }

    var threadCpu = ThreadCpu.Milliseconds();
    loss = MlmTrainer.TrainStep(model, optimizer, loader, collator, masking, opt, schedule.At(step), CPU);
    if (step > warmup)
    {
        stepCpuMs.Add(ThreadCpu.Milliseconds() - threadCpu);
    }
}

watch.Stop();
var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"STEPS_PER_S {timed / watch.Elapsed.TotalSeconds:F3} threads={get_num_threads()} cpu_s_per_step={cpu / timed:F4} final_loss={loss:F4}"));
// The calling thread's CPU time per step: at 1 thread libtorch runs every kernel on this thread, so this is the step's
// own CPU cost, which time slices lost to other processes do not inflate (A/B comparisons on a shared machine).
stepCpuMs.Sort();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"STEP_THREAD_CPU_MS min={stepCpuMs[0]:F2} p10={stepCpuMs[stepCpuMs.Count / 10]:F2} median={stepCpuMs[stepCpuMs.Count / 2]:F2}"));
return 0;

/// <summary>CLOCK_THREAD_CPUTIME_ID: CPU time of the calling thread.</summary>
internal static class ThreadCpu
{
    public static double Milliseconds()
    {
        ClockGetTime(3, out var time);
        return (time.Seconds * 1e3) + (time.Nanoseconds / 1e6);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
