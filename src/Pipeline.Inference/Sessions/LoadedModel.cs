using Microsoft.ML.OnnxRuntime;
using Pipeline.Inference.Batching;
using Pipeline.Inference.Heads;
using Pipeline.Core.Datasets;
using Pipeline.Core.Models;
using Pipeline.Inference.Telemetry;
using Pipeline.Inference.Text;

namespace Pipeline.Inference.Sessions;

/// <summary>
/// One (name, version) ready to serve: its ORT sessions, tokeniser or image preprocessing, optional probe head and
/// micro-batcher. Reference-counted: the cache holds one reference, each request a lease, so when latest.json moves
/// on, requests already running finish on this version and the sessions are disposed after the last one.
/// </summary>
public sealed class LoadedModel
{
    private readonly InferenceSession _encoder;
    private readonly HashSet<string> _encoderInputs;
    private readonly string? _sentenceOutput;
    private readonly string? _hiddenOutput;
    private readonly string? _imageOutput;
    private readonly Lazy<InferenceSession?> _mlm;
    private readonly MicroBatcher<int[], float[]>? _textBatcher;
    private readonly MicroBatcher<float[], float[]>? _imageBatcher;
    private readonly InferenceMetrics _metrics;
    private int _references = 1;

    // One RunOptions for every Run (ORT only reads it): a new one per call is a native object left to the finalizer.
    private static readonly RunOptions SharedRunOptions = new();

    internal LoadedModel(
        string name,
        string version,
        string variant,
        string directory,
        InferenceSession encoder,
        string? mlmPath,
        ITextTokenizer? tokenizer,
        TextModelSettings? textSettings,
        ImagePreprocessing? imageSpec,
        LinearHead? head,
        InferenceOptions options,
        InferenceMetrics metrics)
    {
        Name = name;
        Version = version;
        Variant = variant;
        Directory = directory;
        _encoder = encoder;
        _metrics = metrics;
        Tokenizer = tokenizer;
        TextSettings = textSettings;
        ImageSpec = imageSpec;
        Head = head;
        Options = options;
        Kind = tokenizer is not null ? ModelKind.Text : ModelKind.Image;
        _encoderInputs = encoder.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
        var outputs = encoder.OutputMetadata;
        if (Kind == ModelKind.Text)
        {
            if (!_encoderInputs.Contains("input_ids"))
            {
                throw new InvalidDataException($"Model {name}/{version}: a text encoder needs an 'input_ids' input.");
            }

            _sentenceOutput = outputs.ContainsKey("sentence_embedding") ? "sentence_embedding" : null;
            _hiddenOutput = outputs.ContainsKey("last_hidden_state") ? "last_hidden_state" : null;
            if (_sentenceOutput is null && _hiddenOutput is null)
            {
                throw new InvalidDataException($"Model {name}/{version}: the encoder has neither 'sentence_embedding' nor 'last_hidden_state'.");
            }

            if (_sentenceOutput is null && TextSettings?.Pooling == TextPooling.MeanFirstLast)
            {
                throw new InvalidDataException($"Model {name}/{version}: pooling '{TextPooling.MeanFirstLast}' needs the encoder's 'sentence_embedding' output (last_hidden_state alone cannot give it).");
            }

            Dimensions = (int)outputs[_sentenceOutput ?? _hiddenOutput!].Dimensions[^1];
        }
        else
        {
            _imageOutput = outputs.ContainsKey("embedding") ? "embedding" : outputs.Keys.First();
            Dimensions = (int)outputs[_imageOutput].Dimensions[^1];
        }

        _mlm = new Lazy<InferenceSession?>(() => mlmPath is null ? null : OnnxSessions.Create(mlmPath, options), LazyThreadSafetyMode.ExecutionAndPublication);
        if (options.Batching.Enabled)
        {
            if (Kind == ModelKind.Text)
            {
                _textBatcher = new MicroBatcher<int[], float[]>(EmbedTokens, ids => ids.Length, options.Batching with { ConcurrentBatches = options.ResolvedConcurrentBatches }, metrics.RecordBatch);
            }
            else
            {
                _imageBatcher = new MicroBatcher<float[], float[]>(EmbedPixels, _ => 1, options.Batching with { MaxBatchTokens = int.MaxValue, ConcurrentBatches = options.ResolvedConcurrentBatches }, metrics.RecordBatch);
            }
        }
    }

    public string Name { get; }

    public string Version { get; }

    /// <summary>fp32 or int8.</summary>
    public string Variant { get; }

    public string Directory { get; }

    public ModelKind Kind { get; }

    /// <summary>Embedding size (read from the graph; from the first forward pass when the graph leaves it symbolic).</summary>
    public int Dimensions { get; private set; }

    public ITextTokenizer? Tokenizer { get; }

    public TextModelSettings? TextSettings { get; }

    public ImagePreprocessing? ImageSpec { get; }

    public LinearHead? Head { get; }

    public InferenceOptions Options { get; }

    internal DateTime LastUsed { get; set; } = DateTime.UtcNow;

    /// <summary>Whether this model has a fill-mask head (mlm.onnx).</summary>
    public bool HasMlm => _mlm.Value is not null;

    /// <summary>Embeds token sequences, through the micro-batcher when batching is on.</summary>
    public Task<float[][]> EmbedTokensAsync(IReadOnlyList<int[]> sequences, CancellationToken ct) =>
        _textBatcher is not null ? _textBatcher.RunAsync(sequences, ct) : Task.FromResult(EmbedTokens(sequences));

    public Task<float[][]> EmbedPixelsAsync(IReadOnlyList<float[]> images, CancellationToken ct) =>
        _imageBatcher is not null ? _imageBatcher.RunAsync(images, ct) : Task.FromResult(EmbedPixels(images));

    /// <summary>One forward pass over a padded batch; returns one embedding per sequence.</summary>
    public float[][] EmbedTokens(IReadOnlyList<int[]> sequences)
    {
        var batch = sequences.Count;
        var length = sequences.Max(s => s.Length);
        var (ids, mask) = Pad(sequences, length, Tokenizer!.PadId);
        var shape = new long[] { batch, length };
        var outputName = _sentenceOutput ?? _hiddenOutput!;
        using var inputs = CreateTextInputs(_encoderInputs, ids, mask, shape);
        using var results = _encoder.Run(SharedRunOptions, inputs.Names, inputs.Values, [outputName]);
        var data = results[0].GetTensorDataAsSpan<float>();
        Dimensions = _sentenceOutput is not null ? data.Length / batch : data.Length / (batch * length);
        var embeddings = new float[batch][];
        if (_sentenceOutput is not null)
        {
            for (var b = 0; b < batch; b++)
            {
                embeddings[b] = data.Slice(b * Dimensions, Dimensions).ToArray();
            }
        }
        else
        {
            for (var b = 0; b < batch; b++)
            {
                embeddings[b] = Pool(data.Slice(b * length * Dimensions, length * Dimensions), mask.AsSpan(b * length, length), Dimensions, TextSettings!.Pooling);
            }
        }

        _metrics.Sequences.Add(batch);
        return embeddings;
    }

    public float[][] EmbedPixels(IReadOnlyList<float[]> images)
    {
        var spec = ImageSpec!;
        var size = spec.Channels * spec.Height * spec.Width;
        var pixels = new float[images.Count * size];
        for (var i = 0; i < images.Count; i++)
        {
            images[i].CopyTo(pixels, i * size);
        }

        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [images.Count, spec.Channels, spec.Height, spec.Width]);
        using var results = _encoder.Run(SharedRunOptions, [spec.InputName], [input], [_imageOutput!]);
        var data = results[0].GetTensorDataAsSpan<float>();
        Dimensions = data.Length / images.Count;
        var embeddings = new float[images.Count][];
        for (var b = 0; b < images.Count; b++)
        {
            embeddings[b] = data.Slice(b * Dimensions, Dimensions).ToArray();
        }

        _metrics.Sequences.Add(images.Count);
        return embeddings;
    }

    /// <summary>MLM logits [length, vocab] for one sequence (fill-mask is not batched: it is not the hot path).</summary>
    public float[] MaskedLogits(int[] sequence, out int vocab)
    {
        var session = _mlm.Value ?? throw InferenceException.BadRequest($"Model {Name}/{Version} has no fill-mask head (mlm.onnx).");
        var (ids, mask) = Pad([sequence], sequence.Length, Tokenizer!.PadId);
        var inputNames = session.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
        using var inputs = CreateTextInputs(inputNames, ids, mask, [1, sequence.Length]);
        var output = session.OutputMetadata.ContainsKey("logits") ? "logits" : session.OutputMetadata.Keys.First();
        using var results = session.Run(SharedRunOptions, inputs.Names, inputs.Values, [output]);
        var data = results[0].GetTensorDataAsSpan<float>();
        vocab = data.Length / sequence.Length;
        return data.ToArray();
    }

    /// <summary>Runs one tiny batch so the first real request does not pay for ORT's lazy initialisation.</summary>
    internal void WarmUp()
    {
        if (Kind == ModelKind.Text)
        {
            EmbedTokens([[Tokenizer!.ClsId, Tokenizer.SepId]]);
        }
        else
        {
            EmbedPixels([new float[ImageSpec!.Channels * ImageSpec.Height * ImageSpec.Width]]);
        }
    }

    internal bool TryAddReference()
    {
        while (true)
        {
            var current = Volatile.Read(ref _references);
            if (current <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            _ = DisposeAsync();
        }
    }

    private async Task DisposeAsync()
    {
        if (_textBatcher is not null)
        {
            await _textBatcher.DisposeAsync().ConfigureAwait(false);
        }

        if (_imageBatcher is not null)
        {
            await _imageBatcher.DisposeAsync().ConfigureAwait(false);
        }

        _encoder.Dispose();
        if (_mlm.IsValueCreated)
        {
            _mlm.Value?.Dispose();
        }
    }

    private static (long[] Ids, long[] Mask) Pad(IReadOnlyList<int[]> sequences, int length, int padId)
    {
        var ids = new long[sequences.Count * length];
        var mask = new long[sequences.Count * length];
        for (var b = 0; b < sequences.Count; b++)
        {
            var row = b * length;
            var seq = sequences[b];
            for (var t = 0; t < length; t++)
            {
                var present = t < seq.Length;
                ids[row + t] = present ? seq[t] : padId;
                mask[row + t] = present ? 1 : 0;
            }
        }

        return (ids, mask);
    }

    private static float[] Pool(ReadOnlySpan<float> hidden, ReadOnlySpan<long> mask, int dims, string pooling)
    {
        var result = new float[dims];
        if (pooling == "cls")
        {
            hidden[..dims].CopyTo(result);
            return result;
        }

        var count = 0;
        for (var t = 0; t < mask.Length; t++)
        {
            if (mask[t] == 0)
            {
                continue;
            }

            count++;
            var row = hidden.Slice(t * dims, dims);
            for (var d = 0; d < dims; d++)
            {
                result[d] += row[d];
            }
        }

        for (var d = 0; d < dims; d++)
        {
            result[d] /= Math.Max(count, 1);
        }

        return result;
    }

    private static TextInputs CreateTextInputs(HashSet<string> accepted, long[] ids, long[] mask, long[] shape)
    {
        var inputs = new TextInputs();
        inputs.Add("input_ids", OrtValue.CreateTensorValueFromMemory(ids, shape));
        if (accepted.Contains("attention_mask"))
        {
            inputs.Add("attention_mask", OrtValue.CreateTensorValueFromMemory(mask, shape));
        }

        if (accepted.Contains("token_type_ids"))
        {
            inputs.Add("token_type_ids", OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape));
        }

        return inputs;
    }

    private sealed class TextInputs : IDisposable
    {
        public List<string> Names { get; } = [];

        public List<OrtValue> Values { get; } = [];

        public void Add(string name, OrtValue value)
        {
            Names.Add(name);
            Values.Add(value);
        }

        public void Dispose()
        {
            foreach (var value in Values)
            {
                value.Dispose();
            }
        }
    }
}

/// <summary>A request's hold on a loaded model; disposing it lets a retired version go.</summary>
public sealed class ModelLease : IDisposable
{
    private LoadedModel? _model;

    internal ModelLease(LoadedModel model) => _model = model;

    public LoadedModel Model => _model ?? throw new ObjectDisposedException(nameof(ModelLease));

    public void Dispose() => Interlocked.Exchange(ref _model, null)?.Release();
}
