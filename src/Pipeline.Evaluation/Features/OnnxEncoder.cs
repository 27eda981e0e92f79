using Microsoft.ML.OnnxRuntime;
using Pipeline.Core.Datasets;
using Pipeline.Core.Text;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Probe;
using Pipeline.Inference.Images;
using Pipeline.Inference.Text;

namespace Pipeline.Evaluation.Features;

/// <summary>
/// Frozen features from an exported encoder, computed with ONNX Runtime exactly as the inference service serves them:
/// text through the model's vocab.txt + normalisation (Core's WordPieceEncoder) into sentence_embedding (or masked
/// mean of last_hidden_state); images through preprocessing.json into embedding.
/// </summary>
public sealed class OnnxEncoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly WordPieceEncoder? _tokenizer;
    private readonly TextModelSettings? _text;
    private readonly ImagePreprocessing? _image;
    private readonly HashSet<string> _inputs;

    private OnnxEncoder(InferenceSession session, WordPieceEncoder? tokenizer, TextModelSettings? text, ImagePreprocessing? image)
    {
        _session = session;
        _tokenizer = tokenizer;
        _text = text;
        _image = image;
        _inputs = session.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Sequences longer than this are cut (the [SEP] kept), whatever the model's position limit.</summary>
    public int MaxTokens { get; init; } = 128;

    public int BatchSize { get; init; } = 64;

    /// <summary>
    /// Opens <paramref name="onnxFile"/> (encoder.onnx or encoder-random.onnx) in <paramref name="modelDirectory"/>,
    /// with the directory's vocab.txt + config.json (text) or preprocessing.json (images).
    /// </summary>
    public static OnnxEncoder Open(string modelDirectory, string onnxFile, Modality modality, int threads = 1)
    {
        var path = Path.Combine(modelDirectory, onnxFile);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Encoder '{path}' does not exist.");
        }

        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = Math.Max(1, threads),
            InterOpNumThreads = 1,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        var session = new InferenceSession(path, options);
        try
        {
            if (modality == Modality.Text)
            {
                var vocab = Path.Combine(modelDirectory, "vocab.txt");
                if (!File.Exists(vocab))
                {
                    throw new FileNotFoundException($"A text encoder needs vocab.txt beside it in '{modelDirectory}'.");
                }

                var configPath = Path.Combine(modelDirectory, "config.json");
                var settings = TextModelSettings.Parse(File.Exists(configPath) ? File.ReadAllText(configPath) : null);
                var normalization = new TextNormalization { Nfkc = settings.Nfkc, Lowercase = settings.Lowercase, StripAccents = settings.StripAccents };
                var tokenizer = WordPieceEncoder.LoadFile(vocab, normalization);
                return new OnnxEncoder(session, tokenizer, settings, null);
            }

            var preprocessing = Path.Combine(modelDirectory, "preprocessing.json");
            var spec = File.Exists(preprocessing) ? ImageInput.ParsePreprocessing(File.ReadAllText(preprocessing)) : new ImagePreprocessing();
            return new OnnxEncoder(session, null, null, spec);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>One embedding row per example of the split.</summary>
    public FeatureMatrix Embed(LabeledSplit split, IProgress<int>? progress = null) =>
        _tokenizer is not null
            ? EmbedTexts(split.Texts ?? throw new InvalidDataException("This is a text encoder but the labelled set holds images."), progress)
            : EmbedImages(split.Images ?? throw new InvalidDataException("This is an image encoder but the labelled set holds texts."), progress);

    public FeatureMatrix EmbedTexts(IReadOnlyList<string> texts, IProgress<int>? progress = null)
    {
        var maxLength = Math.Min(MaxTokens, _text!.MaxPositions);
        var encoded = texts.Select(t => _tokenizer!.Encode(t, maxLength).InputIds).ToArray();

        // Length-sorted batches waste little on padding; results go back to input order.
        var order = Enumerable.Range(0, encoded.Length).OrderBy(i => encoded[i].Length).ThenBy(i => i).ToArray();
        float[][] rows = new float[encoded.Length][];
        for (var start = 0; start < order.Length; start += BatchSize)
        {
            var batch = order.Skip(start).Take(BatchSize).ToArray();
            var embeddings = RunText(batch.Select(i => encoded[i]).ToArray());
            for (var b = 0; b < batch.Length; b++)
            {
                rows[batch[b]] = embeddings[b];
            }

            progress?.Report(Math.Min(order.Length, start + BatchSize));
        }

        return FeatureMatrix.FromRows(rows);
    }

    public FeatureMatrix EmbedImages(IReadOnlyList<byte[]> images, IProgress<int>? progress = null)
    {
        var spec = _image!;
        var size = spec.Channels * spec.Height * spec.Width;
        var rows = new List<float[]>(images.Count);
        for (var start = 0; start < images.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, images.Count - start);
            var pixels = new float[count * size];
            for (var i = 0; i < count; i++)
            {
                var image = images[start + i];
                if (image.Length != size)
                {
                    throw new InvalidDataException($"Image {start + i} has {image.Length} bytes; the encoder's preprocessing.json expects {spec.Channels}x{spec.Height}x{spec.Width}.");
                }

                spec.Normalize(image, pixels.AsSpan(i * size, size));
            }

            using var input = OrtValue.CreateTensorValueFromMemory(pixels, [count, spec.Channels, spec.Height, spec.Width]);
            var output = _session.OutputMetadata.ContainsKey("embedding") ? "embedding" : _session.OutputMetadata.Keys.First();
            using var results = _session.Run(new RunOptions(), [spec.InputName], [input], [output]);
            var data = results[0].GetTensorDataAsSpan<float>();
            var dims = data.Length / count;
            for (var i = 0; i < count; i++)
            {
                rows.Add(data.Slice(i * dims, dims).ToArray());
            }

            progress?.Report(start + count);
        }

        return FeatureMatrix.FromRows(rows);
    }

    public void Dispose() => _session.Dispose();

    private float[][] RunText(int[][] sequences)
    {
        var batch = sequences.Length;
        var length = sequences.Max(s => s.Length);
        var ids = new long[batch * length];
        var mask = new long[batch * length];
        for (var b = 0; b < batch; b++)
        {
            for (var t = 0; t < length; t++)
            {
                var inside = t < sequences[b].Length;
                ids[(b * length) + t] = inside ? sequences[b][t] : _tokenizer!.PadId;
                mask[(b * length) + t] = inside ? 1 : 0;
            }
        }

        long[] shape = [batch, length];
        var names = new List<string> { "input_ids" };
        var values = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(ids, shape) };
        if (_inputs.Contains("attention_mask"))
        {
            names.Add("attention_mask");
            values.Add(OrtValue.CreateTensorValueFromMemory(mask, shape));
        }

        if (_inputs.Contains("token_type_ids"))
        {
            names.Add("token_type_ids");
            values.Add(OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape));
        }

        try
        {
            var sentence = _session.OutputMetadata.ContainsKey("sentence_embedding");
            var output = sentence ? "sentence_embedding" : "last_hidden_state";
            using var results = _session.Run(new RunOptions(), names, values, [output]);
            var data = results[0].GetTensorDataAsSpan<float>();
            var rows = new float[batch][];
            if (sentence)
            {
                var dims = data.Length / batch;
                for (var b = 0; b < batch; b++)
                {
                    rows[b] = data.Slice(b * dims, dims).ToArray();
                }

                return rows;
            }

            var hidden = data.Length / (batch * length);
            for (var b = 0; b < batch; b++)
            {
                var row = new float[hidden];
                var count = 0;
                for (var t = 0; t < length; t++)
                {
                    if (mask[(b * length) + t] == 0)
                    {
                        continue;
                    }

                    count++;
                    var h = data.Slice(((b * length) + t) * hidden, hidden);
                    for (var j = 0; j < hidden; j++)
                    {
                        row[j] += h[j];
                    }
                }

                for (var j = 0; j < hidden; j++)
                {
                    row[j] /= Math.Max(1, count);
                }

                rows[b] = row;
            }

            return rows;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}
