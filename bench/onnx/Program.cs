// ORT vs TorchSharp eager on the exported text encoder: same weights, same inputs, same thread count.
// usage: OnnxBench <outDir> [threads...]   prints one line per (threads, batch) and writes encoder.onnx + inputs for
// the PyTorch peer (torch_peer.py) into outDir.
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Core.Models;
using Pipeline.Training.Export;
using Pipeline.Training.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

var outDir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "onnx-bench");
var threadCounts = args.Skip(1).Select(int.Parse).DefaultIfEmpty(1).ToArray();
Directory.CreateDirectory(outDir);
const int Length = 64;
var config = new TextEncoderConfig(); // the mini-BERT the pipeline trains: d128, 2 layers, 4 heads, vocab 2000

torch.manual_seed(7);
using var model = new TextEncoder(config);
model.eval();
var onnxPath = Path.Combine(outDir, "encoder.onnx");
TextEncoderOnnxExporter.Export(model, config, onnxPath);

var batches = new Dictionary<int, TextBatch>();
foreach (var b in new[] { 1, 32 })
{
    batches[b] = OnnxParity.RandomTextBatches(config, seed: b, (b, Length))[0];
    // Inputs for the PyTorch peer: ids, mask, types as text rows.
    File.WriteAllLines(Path.Combine(outDir, $"inputs-b{b}.txt"), new[] { batches[b].InputIds, batches[b].AttentionMask, batches[b].TokenTypeIds }.Select(a => string.Join(' ', a)));
}

var parity = OnnxParity.CheckTextEncoder(model, onnxPath, batches.Values);
using (torch.no_grad())
{
    foreach (var (b, batch) in batches)
    {
        // TorchSharp's sentence embeddings, for the PyTorch peer to check it runs the same model.
        using var idsT = tensor(batch.InputIds).reshape(batch.Batch, batch.Length);
        using var maskT = tensor(batch.AttentionMask).reshape(batch.Batch, batch.Length);
        using var typesT = tensor(batch.TokenTypeIds).reshape(batch.Batch, batch.Length);
        using var hidden = model.forward(idsT, maskT, typesT);
        using var pooled = model.Pool(hidden, maskT);
        File.WriteAllText(Path.Combine(outDir, $"expected-b{b}.txt"), string.Join(' ', pooled.data<float>().ToArray().Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
    }
}

Console.WriteLine($"parity max_abs_diff={parity.MaxAbsDiff:G3} passed={parity.Passed}");

var speedups = new Dictionary<(int Threads, int Batch), double>();
foreach (var threads in threadCounts)
{
    torch.set_num_threads(threads);
    using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
    if (Environment.GetEnvironmentVariable("ONNX_BENCH_DUMP_OPTIMIZED") is { Length: > 0 } dump)
    {
        options.OptimizedModelFilePath = dump; // the graph after ORT's fusions, to see which fired
    }

    using var session = new InferenceSession(onnxPath, options);
    foreach (var (b, batch) in batches)
    {
        long[] shape = [batch.Batch, batch.Length];
        using var ids = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(batch.TokenTypeIds, shape);
        using var runOptions = new RunOptions();
        string[] inputNames = ["input_ids", "attention_mask", "token_type_ids"];
        string[] outputNames = ["last_hidden_state", "sentence_embedding"];
        var ort = Measure(b, () =>
        {
            using var results = session.Run(runOptions, inputNames, [ids, mask, types], outputNames);
        });

        using var idsT = tensor(batch.InputIds).reshape(shape);
        using var maskT = tensor(batch.AttentionMask).reshape(shape);
        using var typesT = tensor(batch.TokenTypeIds).reshape(shape);
        var eager = Measure(b, () =>
        {
            using var noGrad = torch.no_grad();
            using var scope = NewDisposeScope();
            var hidden = model.forward(idsT, maskT, typesT);
            model.Pool(hidden, maskT);
        });

        speedups[(threads, b)] = eager / ort;
        Console.WriteLine(FormattableString.Invariant($"threads={threads} batch={b} seq={Length} ort_ms={ort:F3} torchsharp_ms={eager:F3} speedup={eager / ort:F2}"));
    }
}

var t = threadCounts[0];
Console.WriteLine(FormattableString.Invariant($"RESULT max_abs_diff={parity.MaxAbsDiff:G3} ort_vs_torchsharp_speedup_b1={speedups[(t, 1)]:F2} ort_vs_torchsharp_speedup_b32={speedups[(t, 32)]:F2}"));
return parity.Passed ? 0 : 1;

// Median milliseconds per call after warm-up; about 3 s of calls per measurement.
static double Measure(int batch, Action call)
{
    for (var i = 0; i < 5; i++)
    {
        call();
    }

    var samples = new List<double>();
    var budget = Stopwatch.StartNew();
    while (samples.Count < 10 || (budget.Elapsed.TotalSeconds < 3 && samples.Count < 500))
    {
        var sw = Stopwatch.StartNew();
        call();
        samples.Add(sw.Elapsed.TotalMilliseconds);
    }

    samples.Sort();
    return samples[samples.Count / 2];
}
