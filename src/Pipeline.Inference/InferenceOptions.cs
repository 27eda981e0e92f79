namespace Pipeline.Inference;

/// <summary>How the inference service loads, caches, batches and limits; every field has a serving default.</summary>
public sealed record InferenceOptions
{
    /// <summary>Local folder for downloaded model files and ORT's optimised-model cache.</summary>
    public string CacheDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "pipeline-inference");

    /// <summary>How often latest.json is re-checked (a conditional request on its ETag); zero checks on every request.</summary>
    public TimeSpan LatestPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Intra-op threads per ONNX Runtime session; 0 lets ORT use every core.</summary>
    public int IntraOpThreads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>ORT worker threads spin while waiting: lower latency, but burns CPU on a shared machine.</summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>Save ORT's optimised graph beside the download and load it next time (cuts cold start).</summary>
    public bool CacheOptimizedModels { get; init; } = true;

    /// <summary>At most this many (model, version) pairs stay loaded; the least recently used is released.</summary>
    public int MaxLoadedModels { get; init; } = 4;

    public MicroBatchingOptions Batching { get; init; } = new();

    public InferenceLimits Limits { get; init; } = new();

    /// <summary>The batches a model runs at once: <see cref="MicroBatchingOptions.ConcurrentBatches"/>, or when 0, the cores over the intra-op threads.</summary>
    public int ResolvedConcurrentBatches => Batching.ConcurrentBatches > 0
        ? Batching.ConcurrentBatches
        : Math.Max(1, Environment.ProcessorCount / (IntraOpThreads > 0 ? IntraOpThreads : Environment.ProcessorCount));

    public InferenceOptions Validate()
    {
        Require(!string.IsNullOrWhiteSpace(CacheDirectory), "CacheDirectory must be set.");
        Require(LatestPollInterval >= TimeSpan.Zero, "LatestPollInterval must not be negative.");
        Require(IntraOpThreads >= 0, "IntraOpThreads must be >= 0 (0 = ORT default).");
        Require(MaxLoadedModels >= 1, "MaxLoadedModels must be >= 1.");
        Batching.Validate();
        Limits.Validate();
        return this;
    }

    internal static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"Invalid inference options: {message}");
        }
    }
}

/// <summary>
/// Micro-batching of concurrent requests (the text-embeddings-inference design): sequences queue up, a batch closes
/// when it reaches <see cref="MaxBatchSize"/> sequences, the padded-token budget, or <see cref="MaxWait"/>.
/// </summary>
public sealed record MicroBatchingOptions
{
    public bool Enabled { get; init; } = true;

    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Padded tokens per batch (batch size x longest sequence).</summary>
    public int MaxBatchTokens { get; init; } = 32 * 128;

    /// <summary>How long the first sequence of a batch waits for company.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Low-load shortcut: a lone caller runs at once on its own thread, and the wait for company starts only once
    /// batches of more than one have been seen. Off: every batch waits up to <see cref="MaxWait"/>.
    /// </summary>
    public bool Adaptive { get; init; } = true;

    /// <summary>
    /// Forward passes that may run at once per model. 0 (default): the cores divided by the session's intra-op
    /// threads, so one batch when a session uses every core, and with one intra-op thread on N cores, N batches in
    /// parallel instead of one busy core beside idle ones.
    /// </summary>
    public int ConcurrentBatches { get; init; }

    /// <summary>Sequences waiting per model; beyond it requests are refused with 429.</summary>
    public int QueueCapacity { get; init; } = 4096;

    public void Validate()
    {
        InferenceOptions.Require(MaxBatchSize >= 1, "Batching.MaxBatchSize must be >= 1.");
        InferenceOptions.Require(MaxBatchTokens >= 1, "Batching.MaxBatchTokens must be >= 1.");
        InferenceOptions.Require(MaxWait >= TimeSpan.Zero && MaxWait <= TimeSpan.FromSeconds(1), "Batching.MaxWait must be within 0..1 s.");
        InferenceOptions.Require(QueueCapacity >= 1, "Batching.QueueCapacity must be >= 1.");
        InferenceOptions.Require(ConcurrentBatches >= 0, "Batching.ConcurrentBatches must be >= 0 (0 = cores / intra-op threads).");
    }
}

/// <summary>Per-request limits; requests beyond them get a 400/413 problem naming the limit.</summary>
public sealed record InferenceLimits
{
    /// <summary>Texts (or images) per request.</summary>
    public int MaxItems { get; init; } = 64;

    /// <summary>Characters per text; longer texts are refused, not cut (token truncation is separate and reported).</summary>
    public int MaxTextChars { get; init; } = 8192;

    /// <summary>Candidates in one similarity request.</summary>
    public int MaxCandidates { get; init; } = 256;

    public int MaxTopK { get; init; } = 100;

    /// <summary>JSON request body bytes.</summary>
    public int MaxJsonBytes { get; init; } = 1 << 20;

    /// <summary>Bytes of one encoded image (PNG/JPEG).</summary>
    public int MaxImageBytes { get; init; } = 4 << 20;

    /// <summary>Decoded pixels per side.</summary>
    public int MaxImageSide { get; init; } = 4096;

    /// <summary>Decoded pixels per image (a decompression-bomb guard, checked from the header).</summary>
    public long MaxImagePixels { get; init; } = 16L << 20;

    public void Validate()
    {
        InferenceOptions.Require(MaxItems >= 1, "Limits.MaxItems must be >= 1.");
        InferenceOptions.Require(MaxTextChars >= 1, "Limits.MaxTextChars must be >= 1.");
        InferenceOptions.Require(MaxCandidates >= 1, "Limits.MaxCandidates must be >= 1.");
        InferenceOptions.Require(MaxTopK >= 1, "Limits.MaxTopK must be >= 1.");
        InferenceOptions.Require(MaxJsonBytes >= 1024, "Limits.MaxJsonBytes must be >= 1024.");
        InferenceOptions.Require(MaxImageBytes >= 1024, "Limits.MaxImageBytes must be >= 1024.");
        InferenceOptions.Require(MaxImageSide >= 4, "Limits.MaxImageSide must be >= 4.");
    }
}
