using System.Collections.Concurrent;
using System.Security.Cryptography;
using Pipeline.Inference.Heads;
using Pipeline.Inference.Images;
using Pipeline.Inference.Registry;
using Pipeline.Inference.Telemetry;
using Pipeline.Inference.Text;

namespace Pipeline.Inference.Sessions;

/// <summary>
/// Resolves (name, version?) to a loaded model. Unpinned requests follow models/{name}/latest.json, re-checked at
/// most every <see cref="InferenceOptions.LatestPollInterval"/> with a conditional request on its ETag; when it moves,
/// the next request loads the new version and the old one is released once its in-flight requests finish.
/// Loads are shared (one download and one session per (name, version)), least recently used models are released.
/// </summary>
public sealed class ModelProvider : IAsyncDisposable
{
    private readonly IModelSource _source;
    private readonly ITextTokenizerFactory _tokenizers;
    private readonly InferenceOptions _options;
    private readonly InferenceMetrics _metrics;
    private readonly ConcurrentDictionary<(string Name, string Version, string Variant), Lazy<Task<LoadedModel>>> _loaded = new();
    private readonly ConcurrentDictionary<string, LatestState> _latest = new(StringComparer.Ordinal);

    public ModelProvider(IModelSource source, ITextTokenizerFactory tokenizers, InferenceOptions options, InferenceMetrics metrics)
    {
        _source = source;
        _tokenizers = tokenizers;
        _options = options.Validate();
        _metrics = metrics;
        Directory.CreateDirectory(options.CacheDirectory);
    }

    public IModelSource Source => _source;

    /// <summary>A lease on the model; dispose it when the request is done.</summary>
    /// <param name="variant">null or "fp32": encoder.onnx; "int8": encoder.int8.onnx (published only within its accuracy tolerance).</param>
    public async Task<ModelLease> AcquireAsync(string name, string? version, CancellationToken ct, string? variant = null)
    {
        ModelNames.RequireValidName(name);
        ModelNames.RequireValidVersion(version);
        variant = ModelNames.RequireValidVariant(variant);
        for (var attempt = 0; ; attempt++)
        {
            var resolved = version ?? await ResolveLatestAsync(name, ct).ConfigureAwait(false);
            var model = await GetOrLoadAsync(name, resolved, variant, ct).ConfigureAwait(false);
            if (model.TryAddReference())
            {
                model.LastUsed = DateTime.UtcNow;
                return new ModelLease(model);
            }

            // Released between lookup and lease (swap or eviction): look again.
            if (attempt > 10)
            {
                throw new InferenceException(InferenceErrorKind.Unavailable, $"Model {name}/{resolved} is being replaced; retry.");
            }
        }
    }

    /// <summary>The version latest.json names now (re-checked per the poll interval).</summary>
    public async Task<string> ResolveLatestAsync(string name, CancellationToken ct)
    {
        var state = _latest.GetOrAdd(name, _ => new LatestState());
        if (state.Alias is { } fresh && DateTime.UtcNow - state.CheckedAt < _options.LatestPollInterval)
        {
            return fresh.Version;
        }

        await state.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (state.Alias is { } again && DateTime.UtcNow - state.CheckedAt < _options.LatestPollInterval)
            {
                return again.Version;
            }

            var lookup = await _source.GetLatestAsync(name, state.Alias?.ETag, ct).ConfigureAwait(false);
            switch (lookup.Status)
            {
                case LatestStatus.NotModified:
                    break;
                case LatestStatus.Missing:
                    state.Alias = null;
                    throw InferenceException.NotFound($"Model '{name}' has no published version (models/{name}/latest.json is missing).");
                default:
                    var previous = state.Alias;
                    state.Alias = lookup.Alias;
                    if (previous is not null && previous.Version != lookup.Alias!.Version)
                    {
                        Release(name, previous.Version);
                    }

                    break;
            }

            state.CheckedAt = DateTime.UtcNow;
            return state.Alias!.Version;
        }
        finally
        {
            state.Gate.Release();
        }
    }

    private async Task<LoadedModel> GetOrLoadAsync(string name, string version, string variant, CancellationToken ct)
    {
        var key = (name, version, variant);
        var lazy = _loaded.GetOrAdd(key, k => new Lazy<Task<LoadedModel>>(() => Task.Run(() => LoadAsync(k.Name, k.Version, k.Variant, CancellationToken.None))));
        try
        {
            var model = await lazy.Value.WaitAsync(ct).ConfigureAwait(false);
            EvictBeyondCapacity(key);
            return model;
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            // A failed load is not cached: the next request tries again (the blob may appear, storage may recover).
            _loaded.TryRemove(new KeyValuePair<(string, string, string), Lazy<Task<LoadedModel>>>(key, lazy));
            throw;
        }
    }

    private async Task<LoadedModel> LoadAsync(string name, string version, string variant, CancellationToken ct)
    {
        var directory = Path.Combine(_options.CacheDirectory, name, version);
        Directory.CreateDirectory(directory);
        var int8 = variant == ModelNames.Int8Variant;
        var encoderFile = int8 ? "encoder.int8.onnx" : "encoder.onnx";
        var mlmFile = int8 ? "mlm.int8.onnx" : "mlm.onnx";
        var encoderPath = Path.Combine(directory, encoderFile);
        if (!await _source.TryDownloadAsync(name, version, encoderFile, encoderPath, ct).ConfigureAwait(false))
        {
            if (int8 && await _source.TryReadTextAsync(name, version, "config.json", ct).ConfigureAwait(false) is not null)
            {
                throw InferenceException.NotFound($"Model {name}/{version} has no int8 variant: none was published (int8.json in the version folder says why, when it was measured).");
            }

            throw InferenceException.NotFound($"Model '{name}' has no version {version} (models/{name}/{version}/{encoderFile} is missing).");
        }

        var sums = await _source.TryReadTextAsync(name, version, "SHA256SUMS", ct).ConfigureAwait(false);
        VerifySum(sums, encoderPath, encoderFile);
        var config = await _source.TryReadTextAsync(name, version, "config.json", ct).ConfigureAwait(false);
        var vocab = await _source.TryReadTextAsync(name, version, "vocab.txt", ct).ConfigureAwait(false);
        var preprocessing = vocab is null ? await _source.TryReadTextAsync(name, version, "preprocessing.json", ct).ConfigureAwait(false) : null;
        var headJson = await _source.TryReadTextAsync(name, version, LinearHead.FileName, ct).ConfigureAwait(false);
        var mlmPath = Path.Combine(directory, mlmFile);
        var hasMlm = vocab is not null && await _source.TryDownloadAsync(name, version, mlmFile, mlmPath, ct).ConfigureAwait(false);
        if (hasMlm)
        {
            VerifySum(sums, mlmPath, mlmFile);
        }

        if (vocab is null && preprocessing is null)
        {
            throw new InvalidDataException($"Model {name}/{version} has neither vocab.txt (text) nor preprocessing.json (image).");
        }

        ITextTokenizer? tokenizer = null;
        TextModelSettings? settings = null;
        if (vocab is not null)
        {
            settings = TextModelSettings.Parse(config);
            using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(vocab));
            tokenizer = _tokenizers.Create(stream, settings);
        }

        var spec = preprocessing is null ? null : ImageInput.ParsePreprocessing(preprocessing);
        var head = headJson is null ? null : LinearHead.Parse(headJson);
        var session = OnnxSessions.Create(encoderPath, _options);
        try
        {
            var model = new LoadedModel(name, version, variant, directory, session, hasMlm ? mlmPath : null, tokenizer, settings, spec, head, _options, _metrics);
            model.WarmUp();
            return model;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static void VerifySum(string? sums, string path, string file)
    {
        if (sums is null)
        {
            return;
        }

        foreach (var line in sums.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && parts[1].TrimStart('*') == file)
            {
                using var stream = File.OpenRead(path);
                var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
                if (!string.Equals(actual, parts[0], StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidDataException($"{file} does not match SHA256SUMS (expected {parts[0]}, got {actual}); the download is corrupt or the version was overwritten.");
                }
            }
        }
    }

    private void Release(string name, string version)
    {
        foreach (var key in _loaded.Keys.Where(k => k.Name == name && k.Version == version).ToList())
        {
            Release(key);
        }
    }

    private void Release((string Name, string Version, string Variant) key)
    {
        if (_loaded.TryRemove(key, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
        {
            lazy.Value.Result.Release();
        }
    }

    private void EvictBeyondCapacity((string, string, string) keep)
    {
        while (_loaded.Count > _options.MaxLoadedModels)
        {
            var oldest = _loaded
                .Where(kv => kv.Key != keep && kv.Value.IsValueCreated && kv.Value.Value.IsCompletedSuccessfully)
                .OrderBy(kv => kv.Value.Value.Result.LastUsed)
                .Select(kv => kv.Key)
                .FirstOrDefault();
            if (oldest == default)
            {
                return;
            }

            Release(oldest);
        }
    }

    public ValueTask DisposeAsync()
    {
        foreach (var key in _loaded.Keys.ToList())
        {
            Release(key);
        }

        return ValueTask.CompletedTask;
    }

    private sealed class LatestState
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public LatestAlias? Alias { get; set; }

        public DateTime CheckedAt { get; set; }
    }
}
