using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

namespace Pipeline.Training.Export;

/// <summary>One held-out batch of token ids, row-major [Rows, Length] (padding has mask 0).</summary>
public sealed record TokenBatch(long[] Ids, long[] AttentionMask, int Rows, int Length);

/// <summary>
/// The int8 variant's measured accuracy change and speed against fp32, both run by ONNX Runtime on held-out text,
/// and the verdict against the stated tolerance. Written as int8.json next to the files and into the run's metrics.
/// </summary>
public sealed record Int8Report
{
    /// <summary>Publish the int8 variant only when the mean cosine(fp32, int8) of sentence embeddings is at least this.</summary>
    public const double MinMeanCosine = 0.99;

    /// <summary>... and fill-mask top-1 (argmax of the MLM logits on every real held-out token) agrees at least this often.</summary>
    public const double MinTop1Agreement = 0.95;

    public int Sequences { get; init; }

    public int QuantizedMatMuls { get; init; }

    public int WeightBits { get; init; }

    public double EmbeddingCosineMean { get; init; }

    public double EmbeddingCosineMin { get; init; }

    /// <summary>NaN when there is no MLM head.</summary>
    public double FillMaskTop1Agreement { get; init; } = double.NaN;

    public int FillMaskPositions { get; init; }

    public double Fp32MsPerBatch { get; init; }

    public double Int8MsPerBatch { get; init; }

    public double Speedup => Int8MsPerBatch > 0 ? Fp32MsPerBatch / Int8MsPerBatch : double.NaN;

    public long Fp32Bytes { get; init; }

    public long Int8Bytes { get; init; }

    public double MinMeanCosineTolerance { get; init; } = MinMeanCosine;

    public double MinTop1AgreementTolerance { get; init; } = MinTop1Agreement;

    public bool Passed { get; init; }

    public string? Failure { get; init; }

    public IReadOnlyDictionary<string, double> ToMetrics() => new Dictionary<string, double>
    {
        ["int8_embedding_cosine_mean"] = EmbeddingCosineMean,
        ["int8_embedding_cosine_min"] = EmbeddingCosineMin,
        ["int8_fill_mask_top1_agreement"] = FillMaskTop1Agreement,
        ["int8_speedup"] = Speedup,
        ["int8_published"] = Passed ? 1 : 0,
        ["int8_tolerance_min_mean_cosine"] = MinMeanCosineTolerance,
        ["int8_tolerance_min_top1_agreement"] = MinTop1AgreementTolerance,
    };

    public void WriteJson(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

/// <summary>Produces encoder.int8.onnx (+ mlm.int8.onnx) next to the fp32 files and measures them on held-out text.</summary>
public static class Int8Variant
{
    public const string EncoderFile = "encoder.int8.onnx";
    public const string MlmFile = "mlm.int8.onnx";
    public const string ReportFile = "int8.json";

    /// <summary>
    /// Quantises <paramref name="encoderPath"/> (and <paramref name="mlmPath"/>), compares against fp32 on
    /// <paramref name="heldOut"/>, and returns the report; the int8 files stay on disk either way (the caller
    /// publishes them only when <see cref="Int8Report.Passed"/>).
    /// </summary>
    public static Int8Report Create(string encoderPath, string? mlmPath, IReadOnlyList<TokenBatch> heldOut, int weightBits = 7, int timingRepeats = 5)
    {
        if (heldOut.Count == 0)
        {
            throw new ArgumentException("No held-out batches to measure the int8 variant on.", nameof(heldOut));
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(encoderPath))!;
        var encoderInt8 = Path.Combine(folder, EncoderFile);
        var summary = OnnxInt8Quantizer.Quantize(encoderPath, encoderInt8, weightBits);
        string? mlmInt8 = null;
        if (mlmPath is not null)
        {
            mlmInt8 = Path.Combine(folder, MlmFile);
            OnnxInt8Quantizer.Quantize(mlmPath, mlmInt8, weightBits);
        }

        using var so = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var fp32 = new InferenceSession(encoderPath, so);
        using var int8 = new InferenceSession(encoderInt8, so);
        var cosines = new List<double>();
        foreach (var batch in heldOut)
        {
            var a = Run(fp32, batch, "sentence_embedding");
            var b = Run(int8, batch, "sentence_embedding");
            var dims = a.Length / batch.Rows;
            for (var r = 0; r < batch.Rows; r++)
            {
                cosines.Add(Cosine(a.AsSpan(r * dims, dims), b.AsSpan(r * dims, dims)));
            }
        }

        double agreement = double.NaN;
        var positions = 0;
        if (mlmPath is not null)
        {
            using var mlm32 = new InferenceSession(mlmPath, so);
            using var mlm8 = new InferenceSession(mlmInt8!, so);
            var same = 0;
            foreach (var batch in heldOut)
            {
                var a = Run(mlm32, batch, "logits");
                var b = Run(mlm8, batch, "logits");
                var vocab = a.Length / (batch.Rows * batch.Length);
                for (var p = 0; p < batch.Rows * batch.Length; p++)
                {
                    if (batch.AttentionMask[p] == 0)
                    {
                        continue;
                    }

                    positions++;
                    same += ArgMax(a.AsSpan(p * vocab, vocab)) == ArgMax(b.AsSpan(p * vocab, vocab)) ? 1 : 0;
                }
            }

            agreement = positions == 0 ? double.NaN : (double)same / positions;
        }

        var largest = heldOut.MaxBy(b => b.Rows * b.Length)!;
        var fp32Ms = Time(fp32, largest, timingRepeats);
        var int8Ms = Time(int8, largest, timingRepeats);
        var mean = cosines.Average();
        string? failure = null;
        if (summary.QuantizedMatMuls == 0)
        {
            failure = "no MatMul with a float weight initializer to quantise";
        }
        else if (!(mean >= Int8Report.MinMeanCosine))
        {
            failure = $"mean embedding cosine {mean:F4} < {Int8Report.MinMeanCosine}";
        }
        else if (mlmPath is not null && !(agreement >= Int8Report.MinTop1Agreement))
        {
            failure = $"fill-mask top-1 agreement {agreement:F4} < {Int8Report.MinTop1Agreement}";
        }

        return new Int8Report
        {
            Sequences = cosines.Count,
            QuantizedMatMuls = summary.QuantizedMatMuls,
            WeightBits = weightBits,
            EmbeddingCosineMean = mean,
            EmbeddingCosineMin = cosines.Min(),
            FillMaskTop1Agreement = agreement,
            FillMaskPositions = positions,
            Fp32MsPerBatch = fp32Ms,
            Int8MsPerBatch = int8Ms,
            Fp32Bytes = new FileInfo(encoderPath).Length,
            Int8Bytes = new FileInfo(encoderInt8).Length,
            Passed = failure is null,
            Failure = failure,
        };
    }

    private static float[] Run(InferenceSession session, TokenBatch batch, string output)
    {
        long[] shape = [batch.Rows, batch.Length];
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var input in session.InputMetadata.Keys)
            {
                var data = input switch
                {
                    "input_ids" => batch.Ids,
                    "attention_mask" => batch.AttentionMask,
                    _ => new long[batch.Ids.Length],
                };
                names.Add(input);
                values.Add(OrtValue.CreateTensorValueFromMemory(data, shape));
            }

            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, values, [output]);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values)
            {
                v.Dispose();
            }
        }
    }

    private static double Time(InferenceSession session, TokenBatch batch, int repeats)
    {
        Run(session, batch, "sentence_embedding");
        var samples = new List<double>();
        for (var i = 0; i < Math.Max(1, repeats); i++)
        {
            var start = Stopwatch.GetTimestamp();
            Run(session, batch, "sentence_embedding");
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }

        return na == 0 || nb == 0 ? (na == nb ? 1 : 0) : dot / Math.Sqrt(na * nb);
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
}
