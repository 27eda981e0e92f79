using Microsoft.ML.OnnxRuntime;
using Pipeline.Core.Models;
using Pipeline.Core.Registry;
using Pipeline.Training.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Export;

/// <summary>
/// One parity input: named model inputs (int64 or float32 tensors) and the outputs TorchSharp computed for them.
/// <paramref name="Top1Rows"/> (optional) marks, per row of the last axis of <c>top1Output</c>, the rows whose
/// argmax must be identical (fill-mask: the real token positions).
/// </summary>
public sealed record ParityCase(
    string Name,
    IReadOnlyDictionary<string, Tensor> Inputs,
    IReadOnlyDictionary<string, Tensor> Expected,
    bool[]? Top1Rows = null);

/// <summary>A token batch [Batch, Length] for the text models, row-major, padded with attention_mask 0.</summary>
public sealed record TextBatch(string Name, int Batch, int Length, long[] InputIds, long[] AttentionMask, long[] TokenTypeIds)
{
    /// <summary>Pads encoded rows (ids with [CLS]/[SEP] already added) to the longest row.</summary>
    public static TextBatch FromRows(string name, IReadOnlyList<IReadOnlyList<long>> rows, long padId)
    {
        if (rows.Count == 0 || rows.Any(r => r.Count == 0))
        {
            throw new ArgumentException("A parity batch needs at least one non-empty row.", nameof(rows));
        }

        var length = rows.Max(r => r.Count);
        var ids = new long[rows.Count * length];
        var mask = new long[rows.Count * length];
        for (var b = 0; b < rows.Count; b++)
        {
            for (var t = 0; t < length; t++)
            {
                var real = t < rows[b].Count;
                ids[(b * length) + t] = real ? rows[b][t] : padId;
                mask[(b * length) + t] = real ? 1 : 0;
            }
        }

        return new TextBatch(name, rows.Count, length, ids, mask, new long[ids.Length]);
    }

    internal Dictionary<string, Tensor> ToTensors() => new()
    {
        [TextEncoderGraph.InputIds] = tensor(InputIds).reshape(Batch, Length),
        [TextEncoderGraph.AttentionMask] = tensor(AttentionMask).reshape(Batch, Length),
        [TextEncoderGraph.TokenTypeIds] = tensor(TokenTypeIds).reshape(Batch, Length),
    };
}

/// <summary>
/// The export gate: runs the exported file in ONNX Runtime and the TorchSharp model on the same inputs and reports
/// the largest absolute difference per output, with where it is. Passed when every difference is within tolerance
/// (default 1e-4) and, for fill-mask, every real position's top-1 token agrees.
/// </summary>
public static class OnnxParity
{
    /// <summary>Compares ONNX Runtime (CPU, all graph optimisations, as served) against the expected outputs.</summary>
    public static ParityReport Check(string onnxPath, IEnumerable<ParityCase> cases, double tolerance = ParityReport.DefaultTolerance, string? top1Output = null)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(onnxPath, options);
        var comparisons = new List<ParityComparison>();
        var failures = new List<string>();
        var top1Mismatches = top1Output is null ? (int?)null : 0;

        foreach (var c in cases)
        {
            var names = c.Inputs.Keys.ToList();
            var values = names.Select(n => ToOrt(c.Inputs[n])).ToList();
            var outputNames = c.Expected.Keys.ToList();
            try
            {
                using var results = session.Run(new RunOptions(), names, values, outputNames);
                for (var i = 0; i < outputNames.Count; i++)
                {
                    var expectedTensor = c.Expected[outputNames[i]];
                    var expected = ToFloats(expectedTensor);
                    var actual = results[i].GetTensorDataAsSpan<float>().ToArray();
                    var actualShape = results[i].GetTensorTypeAndShape().Shape;
                    if (!actualShape.SequenceEqual(expectedTensor.shape))
                    {
                        failures.Add($"{outputNames[i]} in case '{c.Name}': ONNX shape [{string.Join(", ", actualShape)}] != TorchSharp [{string.Join(", ", expectedTensor.shape)}]");
                        continue;
                    }

                    var comparison = Compare(c.Name, outputNames[i], expectedTensor.shape, expected, actual);
                    comparisons.Add(comparison);
                    if (!(comparison.MaxAbsDiff <= tolerance))
                    {
                        failures.Add($"{comparison.Output} in case '{c.Name}': max |diff| {comparison.MaxAbsDiff:G3} > {tolerance:G3} at [{string.Join(", ", comparison.WorstIndex)}] (torch {comparison.Expected:G6}, onnx {comparison.Actual:G6})");
                    }

                    if (outputNames[i] == top1Output)
                    {
                        var width = (int)expectedTensor.shape[^1];
                        var mismatches = CountTop1Mismatches(expected, actual, width, c.Top1Rows, tolerance);
                        top1Mismatches += mismatches;
                        if (mismatches > 0)
                        {
                            failures.Add($"{top1Output} in case '{c.Name}': top-1 differs at {mismatches} position(s)");
                        }
                    }
                }
            }
            finally
            {
                foreach (var value in values)
                {
                    value.Dispose();
                }
            }
        }

        if (comparisons.Count == 0 && failures.Count == 0)
        {
            failures.Add("no outputs were compared (no parity cases)");
        }

        return new ParityReport
        {
            Model = Path.GetFileName(onnxPath),
            Tolerance = tolerance,
            MaxAbsDiff = comparisons.Count == 0 ? double.PositiveInfinity : comparisons.Max(x => x.MaxAbsDiff),
            Top1Mismatches = top1Mismatches,
            Passed = failures.Count == 0,
            Failure = failures.Count == 0 ? null : string.Join("; ", failures),
            Comparisons = comparisons,
        };
    }

    /// <summary>Parity of encoder.onnx: last_hidden_state and sentence_embedding on each batch.</summary>
    public static ParityReport CheckTextEncoder(TextEncoder model, string onnxPath, IEnumerable<TextBatch> batches, double tolerance = ParityReport.DefaultTolerance)
    {
        var cases = InEval(model, () => batches.Select(batch =>
        {
            var inputs = batch.ToTensors();
            var hidden = model.forward(inputs[TextEncoderGraph.InputIds], inputs[TextEncoderGraph.AttentionMask], inputs[TextEncoderGraph.TokenTypeIds]);
            var embedded = model.Config.Pooling == TextPooling.MeanFirstLast
                ? model.embeddings.forward(inputs[TextEncoderGraph.InputIds], inputs[TextEncoderGraph.TokenTypeIds])
                : null;
            var pooled = model.Pool(hidden, inputs[TextEncoderGraph.AttentionMask], embedded);
            return new ParityCase(batch.Name, inputs, new Dictionary<string, Tensor>
            {
                [TextEncoderOnnxExporter.LastHiddenState] = hidden,
                [TextEncoderOnnxExporter.SentenceEmbedding] = pooled,
            });
        }).ToList());
        return CheckAndDispose(onnxPath, cases, tolerance, top1Output: null);
    }

    /// <summary>Parity of mlm.onnx: logits within tolerance and the same top-1 token at every real position.</summary>
    public static ParityReport CheckMlm(MaskedLanguageModel model, string onnxPath, IEnumerable<TextBatch> batches, double tolerance = ParityReport.DefaultTolerance)
    {
        var cases = InEval(model, () => batches.Select(batch =>
        {
            var inputs = batch.ToTensors();
            var logits = model.forward(inputs[TextEncoderGraph.InputIds], inputs[TextEncoderGraph.AttentionMask], inputs[TextEncoderGraph.TokenTypeIds]);
            return new ParityCase(batch.Name, inputs, new Dictionary<string, Tensor> { [MlmOnnxExporter.Logits] = logits }, batch.AttentionMask.Select(m => m != 0).ToArray());
        }).ToList());
        return CheckAndDispose(onnxPath, cases, tolerance, MlmOnnxExporter.Logits);
    }

    /// <summary>
    /// Seeded random batches at the given (batch, length) shapes: each row has a random real length (1..length, the
    /// first row always full), padding after it, and token type 1 on the second half of some rows.
    /// </summary>
    public static IReadOnlyList<TextBatch> RandomTextBatches(TextEncoderConfig config, int seed, params (int Batch, int Length)[] shapes)
    {
        var random = new Random(seed);
        var batches = new List<TextBatch>();
        foreach (var (batch, length) in shapes)
        {
            if (length > config.MaxPositions)
            {
                throw new ArgumentException($"Length {length} exceeds the model's MaxPositions {config.MaxPositions}.", nameof(shapes));
            }

            var ids = new long[batch * length];
            var mask = new long[batch * length];
            var types = new long[batch * length];
            for (var b = 0; b < batch; b++)
            {
                var real = b == 0 ? length : random.Next(1, length + 1);
                var typed = random.Next(2) == 1;
                for (var t = 0; t < length; t++)
                {
                    var i = (b * length) + t;
                    ids[i] = t < real ? random.Next(0, config.VocabSize) : config.PadTokenId;
                    mask[i] = t < real ? 1 : 0;
                    types[i] = typed && t >= real / 2 && t < real ? Math.Min(1, config.TypeVocabSize - 1) : 0;
                }
            }

            batches.Add(new TextBatch($"random b{batch} t{length}", batch, length, ids, mask, types));
        }

        return batches;
    }

    private static ParityReport CheckAndDispose(string onnxPath, List<ParityCase> cases, double tolerance, string? top1Output)
    {
        try
        {
            return Check(onnxPath, cases, tolerance, top1Output);
        }
        finally
        {
            foreach (var c in cases)
            {
                foreach (var t in c.Inputs.Values.Concat(c.Expected.Values))
                {
                    t.Dispose();
                }
            }
        }
    }

    private static T InEval<T>(nn.Module model, Func<T> run)
    {
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            return run();
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static OrtValue ToOrt(Tensor tensor)
    {
        using var cpu = tensor.cpu().contiguous();
        return cpu.dtype switch
        {
            ScalarType.Int64 => OrtValue.CreateTensorValueFromMemory(cpu.data<long>().ToArray(), cpu.shape),
            ScalarType.Float32 => OrtValue.CreateTensorValueFromMemory(cpu.data<float>().ToArray(), cpu.shape),
            _ => throw new NotSupportedException($"Parity inputs must be int64 or float32, got {cpu.dtype}."),
        };
    }

    private static float[] ToFloats(Tensor tensor)
    {
        using var cpu = tensor.detach().to(ScalarType.Float32, CPU).contiguous();
        return cpu.data<float>().ToArray();
    }

    private static ParityComparison Compare(string caseName, string output, long[] shape, float[] expected, float[] actual)
    {
        var worst = 0;
        var max = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            var d = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(d))
            {
                max = double.NaN;
                worst = i;
                break;
            }

            if (d > max)
            {
                max = d;
                worst = i;
            }
        }

        return new ParityComparison
        {
            Case = caseName,
            Output = output,
            Shape = shape,
            MaxAbsDiff = max,
            WorstIndex = Unravel(worst, shape),
            Expected = expected.Length == 0 ? 0 : expected[worst],
            Actual = actual.Length == 0 ? 0 : actual[worst],
        };
    }

    // A different argmax counts unless TorchSharp's own logits for the two tokens tie within tolerance.
    private static int CountTop1Mismatches(float[] expected, float[] actual, int width, bool[]? rows, double tolerance)
    {
        var mismatches = 0;
        for (var row = 0; row * width < expected.Length; row++)
        {
            if (rows is not null && !rows[row])
            {
                continue;
            }

            var e = ArgMax(expected.AsSpan(row * width, width));
            var a = ArgMax(actual.AsSpan(row * width, width));
            if (e != a && expected[(row * width) + e] - expected[(row * width) + a] > tolerance)
            {
                mismatches++;
            }
        }

        return mismatches;
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    private static long[] Unravel(long flat, long[] shape)
    {
        var index = new long[shape.Length];
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = shape[d] == 0 ? 0 : flat % shape[d];
            flat = shape[d] == 0 ? 0 : flat / shape[d];
        }

        return index;
    }
}
