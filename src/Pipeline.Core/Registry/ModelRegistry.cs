using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Core.Storage;

namespace Pipeline.Core.Registry;

/// <summary>
/// The versioned model registry in blob storage: models/{name}/{version}/ (immutable, integer versions assigned
/// here) and models/{name}/latest.json (moved with an ETag condition, only past the parity + evaluation gate).
/// No TorchSharp: the inference path and the Functions app use it.
/// </summary>
public sealed class ModelRegistry
{
    public const string EncoderFile = "encoder.onnx";
    public const string ConfigFile = "config.json";
    public const string ParityFile = "parity.json";
    public const string MetricsFile = "metrics.json";
    public const string ModelCardFile = "model-card.md";
    public const string PublishFile = "publish.json";

    /// <summary>Files the registry writes itself; a request may not supply them.</summary>
    public static IReadOnlyList<string> GeneratedFiles { get; } = [ModelCardFile, Sha256Sums.FileName, PublishFile];

    private const int MaxSwapAttempts = 8;
    private readonly BlobContainerClient _container;
    private readonly TimeProvider _time;

    public ModelRegistry(BlobServiceClient service, TimeProvider? time = null)
    {
        _container = service.GetBlobContainerClient(BlobLayout.Models);
        _time = time ?? TimeProvider.System;
        Service = service;
    }

    public BlobServiceClient Service { get; }

    /// <summary>
    /// Copies the artifacts into the next free version, writes metrics.json, model-card.md and SHA256SUMS (last:
    /// a version without it is incomplete and invisible), then moves latest.json if the gate allows.
    /// Throws <see cref="PublishRefusedException"/> before writing anything when parity is missing or failed.
    /// </summary>
    public async Task<PublishResult> PublishAsync(PublishRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var name = ModelName.Validate(request.Name);
        var files = await ReadArtifactsAsync(request, ct);
        var parity = ParityOf(request, files);
        if (!parity.Passed)
        {
            throw new PublishRefusedException($"Refusing to publish {name}: the ONNX parity check failed ({parity.Failure ?? "no reason given"}; max |diff| {parity.MaxAbsDiff:G3}, tolerance {parity.Tolerance:G3}).");
        }

        var evaluation = request.Evaluation?.DeepClone() ?? (files.TryGetValue(MetricsFile, out var metricsBytes) ? JsonNode.Parse(metricsBytes) : null);
        files.Remove(MetricsFile);
        files[ParityFile] = Encoding.UTF8.GetBytes(parity.ToJson());
        files[MetricsFile] = Encoding.UTF8.GetBytes(MetricsJson(request.TrainingMetrics, evaluation, parity));
        await _container.CreateIfNotExistsAsync(cancellationToken: ct);

        var (version, existing) = await ClaimVersionAsync(name, request.IdempotencyKey, ct);
        if (existing is not null)
        {
            var promotion = request.Promote ? await TryPromoteAsync(name, version, ct) : (false, "promotion not requested");
            return new PublishResult { Name = name, Version = version, Files = existing, Promoted = promotion.Item1, NotPromotedReason = promotion.Item2, AlreadyPublished = true };
        }

        var publishedAt = _time.GetUtcNow();
        var hashes = files.ToDictionary(kv => kv.Key, kv => Sha256Sums.Hash(kv.Value), StringComparer.Ordinal);
        var card = ModelCard.Render(new ModelCardInput
        {
            Name = name,
            Version = version,
            PublishedAt = publishedAt,
            Info = request.Card,
            Config = files.TryGetValue(ConfigFile, out var configBytes) ? JsonNode.Parse(configBytes) : null,
            TrainingMetrics = request.TrainingMetrics,
            Evaluation = evaluation,
            Parity = parity,
            Files = hashes,
        });
        files[ModelCardFile] = Encoding.UTF8.GetBytes(card);
        hashes[ModelCardFile] = Sha256Sums.Hash(files[ModelCardFile]);

        foreach (var (file, bytes) in files)
        {
            await UploadAsync(BlobLayout.ModelArtifact(name, version, file).Name, bytes, overwrite: request.IdempotencyKey is not null, ct);
        }

        // Written last and only once: its presence is what makes the version complete and immutable.
        await UploadAsync(BlobLayout.ModelArtifact(name, version, Sha256Sums.FileName).Name, Encoding.UTF8.GetBytes(Sha256Sums.Format(hashes)), overwrite: false, ct);

        var (promoted, reason) = request.Promote ? await TryPromoteAsync(name, version, ct) : (false, "promotion not requested");
        return new PublishResult { Name = name, Version = version, Files = hashes, Promoted = promoted, NotPromotedReason = reason };
    }

    /// <summary>
    /// Moves latest.json to <paramref name="version"/> if its stored parity.json passed and its metrics.json has an
    /// evaluation, and it is newer than the current alias. Returns whether it moved and, if not, why.
    /// </summary>
    public async Task<(bool Promoted, string? Reason)> TryPromoteAsync(string name, string version, CancellationToken ct = default)
    {
        ModelName.Validate(name);
        var number = ModelName.ParseVersion(version);
        var files = await ReadSumsAsync(name, version, ct) ?? throw new ModelNotFoundException($"Model {name} has no complete version {version}.");
        var parity = ParityReport.Read(Encoding.UTF8.GetString(await ReadVerifiedAsync(name, version, ParityFile, files, ct)));
        if (!parity.Passed)
        {
            return (false, $"parity failed: {parity.Failure}");
        }

        var metrics = JsonNode.Parse(await ReadVerifiedAsync(name, version, MetricsFile, files, ct));
        if (metrics?["evaluation"] is null)
        {
            return (false, "no downstream evaluation in metrics.json yet");
        }

        if (!files.TryGetValue(EncoderFile, out var encoderHash))
        {
            return (false, $"version {version} has no {EncoderFile}");
        }

        var alias = _container.GetBlobClient(BlobLayout.LatestAlias(name).Name);
        for (var attempt = 0; attempt < MaxSwapAttempts; attempt++)
        {
            var (current, etag) = await ReadLatestAsync(alias, ct);
            if (current is not null && ModelName.TryParseVersion(current.Version, out var currentNumber) && currentNumber >= number)
            {
                return currentNumber == number ? (true, null) : (false, $"latest already points at the newer version {current.Version}");
            }

            var latest = new LatestAlias { Name = name, Version = version, PublishedAt = _time.GetUtcNow(), Sha256 = encoderHash };
            var conditions = etag is { } e ? new BlobRequestConditions { IfMatch = e } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            try
            {
                await alias.UploadAsync(
                    BinaryData.FromString(JsonSerializer.Serialize(latest, PipelineJson.Options)),
                    new BlobUploadOptions { Conditions = conditions, HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } },
                    ct);
                return (true, null);
            }
            catch (RequestFailedException ex) when (ex.Status is (int)HttpStatusCode.PreconditionFailed or (int)HttpStatusCode.Conflict)
            {
                // Someone else moved the alias between our read and write: read again and decide again.
            }
        }

        return (false, $"latest.json kept changing; gave up after {MaxSwapAttempts} attempts");
    }

    /// <summary>Resolves a pinned version, or latest.json when <paramref name="version"/> is null or "latest".</summary>
    public async Task<ResolvedModel> ResolveAsync(string name, string? version = null, CancellationToken ct = default)
    {
        ModelName.Validate(name);
        var viaLatest = version is null or ModelName.Latest;
        if (viaLatest)
        {
            var (latest, _) = await ReadLatestAsync(_container.GetBlobClient(BlobLayout.LatestAlias(name).Name), ct);
            version = latest?.Version ?? throw new ModelNotFoundException($"Model {name} has no latest version (nothing has passed the publish gate yet).");
        }

        ModelName.ParseVersion(version);
        var files = await ReadSumsAsync(name, version!, ct) ?? throw new ModelNotFoundException($"Model {name} has no complete version {version}.");
        return new ResolvedModel { Name = name, Version = version!, ViaLatest = viaLatest, Sha256 = files };
    }

    /// <summary>The complete versions of a model, oldest first.</summary>
    public async Task<IReadOnlyList<ModelVersionInfo>> ListVersionsAsync(string name, CancellationToken ct = default)
    {
        ModelName.Validate(name);
        var result = new List<ModelVersionInfo>();
        foreach (var number in await VersionNumbersAsync(name, ct))
        {
            var version = number.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var sums = _container.GetBlobClient(BlobLayout.ModelArtifact(name, version, Sha256Sums.FileName).Name);
            try
            {
                var content = await sums.DownloadContentAsync(ct);
                result.Add(new ModelVersionInfo
                {
                    Name = name,
                    Version = version,
                    PublishedAt = content.Value.Details.LastModified,
                    Files = Sha256Sums.Parse(content.Value.Content.ToString()),
                });
            }
            catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
            {
                // Claimed but not complete (a publish in progress or one that died): not a version yet.
            }
        }

        return result;
    }

    /// <summary>Names of every model with at least one folder in the registry.</summary>
    public async Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken ct = default)
    {
        var names = new List<string>();
        if (!await _container.ExistsAsync(ct))
        {
            return names;
        }

        await foreach (var item in _container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", null, ct))
        {
            if (item.IsPrefix && ModelName.IsValid(item.Prefix.TrimEnd('/')))
            {
                names.Add(item.Prefix.TrimEnd('/'));
            }
        }

        return names;
    }

    /// <summary>Reads one file of a resolved version, refusing it when its bytes do not match SHA256SUMS.</summary>
    public Task<byte[]> ReadFileAsync(ResolvedModel model, string fileName, CancellationToken ct = default) =>
        ReadVerifiedAsync(model.Name, model.Version, fileName, model.Sha256, ct);

    /// <summary>Downloads every file of a resolved version into <paramref name="directory"/>, verifying each checksum.</summary>
    public async Task<string> DownloadAsync(ResolvedModel model, string directory, CancellationToken ct = default)
    {
        Directory.CreateDirectory(directory);
        foreach (var file in model.Sha256.Keys)
        {
            if (file != Path.GetFileName(file) || file.StartsWith('.'))
            {
                throw new ModelIntegrityException($"Model {model.Name} version {model.Version}: {Sha256Sums.FileName} names '{file}', which is not a plain file name.");
            }

            var bytes = await ReadFileAsync(model, file, ct);
            await File.WriteAllBytesAsync(Path.Combine(directory, file), bytes, ct);
        }

        await File.WriteAllTextAsync(Path.Combine(directory, Sha256Sums.FileName), Sha256Sums.Format(model.Sha256), ct);
        return directory;
    }

    private async Task<byte[]> ReadVerifiedAsync(string name, string version, string fileName, IReadOnlyDictionary<string, string> sums, CancellationToken ct)
    {
        if (!sums.TryGetValue(fileName, out var expected))
        {
            throw new ModelNotFoundException($"Model {name} version {version} has no file '{fileName}'.");
        }

        byte[] bytes;
        try
        {
            bytes = (await _container.GetBlobClient(BlobLayout.ModelArtifact(name, version, fileName).Name).DownloadContentAsync(ct)).Value.Content.ToArray();
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
        {
            throw new ModelIntegrityException($"Model {name} version {version}: '{fileName}' is listed in {Sha256Sums.FileName} but missing from storage.");
        }

        var actual = Sha256Sums.Hash(bytes);
        if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelIntegrityException($"Model {name} version {version}: '{fileName}' has sha256 {actual} but {Sha256Sums.FileName} says {expected}; the artifact is corrupted and was not loaded.");
        }

        return bytes;
    }

    private async Task<IReadOnlyDictionary<string, string>?> ReadSumsAsync(string name, string version, CancellationToken ct)
    {
        try
        {
            var content = await _container.GetBlobClient(BlobLayout.ModelArtifact(name, version, Sha256Sums.FileName).Name).DownloadContentAsync(ct);
            return Sha256Sums.Parse(content.Value.Content.ToString());
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static async Task<(LatestAlias? Alias, ETag? ETag)> ReadLatestAsync(BlobClient alias, CancellationToken ct)
    {
        try
        {
            var content = await alias.DownloadContentAsync(ct);
            var latest = JsonSerializer.Deserialize<LatestAlias>(content.Value.Content.ToString(), PipelineJson.Options);
            return (latest, content.Value.Details.ETag);
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
        {
            return (null, null);
        }
    }

    // Picks max(existing) + 1 and claims it by creating publish.json with If-None-Match: *; a concurrent publisher
    // that loses the race moves on to the next number. A retry with the same idempotency key reuses its version.
    private async Task<(string Version, IReadOnlyDictionary<string, string>? Existing)> ClaimVersionAsync(string name, string? idempotencyKey, CancellationToken ct)
    {
        var numbers = await VersionNumbersAsync(name, ct);
        if (idempotencyKey is not null)
        {
            foreach (var number in numbers)
            {
                var version = number.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var claim = await ReadClaimAsync(name, version, ct);
                if (claim?["idempotencyKey"]?.GetValue<string>() == idempotencyKey)
                {
                    return (version, await ReadSumsAsync(name, version, ct));
                }
            }
        }

        var next = numbers.Count == 0 ? 1 : numbers[^1] + 1;
        for (var attempt = 0; attempt < 100; attempt++, next++)
        {
            var version = next.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var claim = new JsonObject
            {
                ["name"] = name,
                ["version"] = version,
                ["claimedAt"] = _time.GetUtcNow(),
                ["idempotencyKey"] = idempotencyKey,
            };
            try
            {
                await UploadAsync(BlobLayout.ModelArtifact(name, version, PublishFile).Name, Encoding.UTF8.GetBytes(claim.ToJsonString(PipelineJson.Options)), overwrite: false, ct);
                return (version, null);
            }
            catch (RequestFailedException ex) when (ex.Status is (int)HttpStatusCode.Conflict or (int)HttpStatusCode.PreconditionFailed)
            {
            }
        }

        throw new InvalidOperationException($"Could not claim a version number for {name} after 100 attempts.");
    }

    private async Task<JsonNode?> ReadClaimAsync(string name, string version, CancellationToken ct)
    {
        try
        {
            var content = await _container.GetBlobClient(BlobLayout.ModelArtifact(name, version, PublishFile).Name).DownloadContentAsync(ct);
            return JsonNode.Parse(content.Value.Content.ToString());
        }
        catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<List<int>> VersionNumbersAsync(string name, CancellationToken ct)
    {
        var numbers = new List<int>();
        if (!await _container.ExistsAsync(ct))
        {
            return numbers;
        }

        await foreach (var item in _container.GetBlobsByHierarchyAsync(BlobTraits.None, BlobStates.None, "/", $"{name}/", ct))
        {
            if (item.IsPrefix && ModelName.TryParseVersion(item.Prefix[(name.Length + 1)..].TrimEnd('/'), out var number))
            {
                numbers.Add(number);
            }
        }

        numbers.Sort();
        return numbers;
    }

    private async Task UploadAsync(string blobName, byte[] bytes, bool overwrite, CancellationToken ct)
    {
        var options = new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = ContentType(blobName) } };
        if (!overwrite)
        {
            options.Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All };
        }

        await _container.GetBlobClient(blobName).UploadAsync(BinaryData.FromBytes(bytes), options, ct);
    }

    private async Task<Dictionary<string, byte[]>> ReadArtifactsAsync(PublishRequest request, CancellationToken ct)
    {
        if (!request.Artifacts.ContainsKey(EncoderFile) || !request.Artifacts.ContainsKey(ConfigFile))
        {
            throw new PublishRefusedException($"Refusing to publish {request.Name}: a version needs {EncoderFile} and {ConfigFile}; got {string.Join(", ", request.Artifacts.Keys)}.");
        }

        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (file, source) in request.Artifacts)
        {
            if (file.Length is 0 or > 100 || file.Contains('/') || file.Contains('\\') || file.StartsWith('.') || GeneratedFiles.Contains(file))
            {
                throw new PublishRefusedException($"Artifact name '{file}' is not allowed: use a plain file name (no folders, not {string.Join(", ", GeneratedFiles)}).");
            }

            if (source.Blob is { } blob)
            {
                try
                {
                    files[file] = (await Service.GetBlobContainerClient(blob.Container).GetBlobClient(blob.Name).DownloadContentAsync(ct)).Value.Content.ToArray();
                }
                catch (RequestFailedException ex) when (ex.Status == (int)HttpStatusCode.NotFound)
                {
                    throw new PublishRefusedException($"Artifact '{file}' not found at {blob}.");
                }
            }
            else if (source.LocalPath is { } path)
            {
                if (!File.Exists(path))
                {
                    throw new PublishRefusedException($"Artifact '{file}' not found at {path}.");
                }

                files[file] = await File.ReadAllBytesAsync(path, ct);
            }
        }

        return files;
    }

    private static ParityReport ParityOf(PublishRequest request, Dictionary<string, byte[]> files)
    {
        if (request.Parity is not null)
        {
            return request.Parity;
        }

        if (files.TryGetValue(ParityFile, out var bytes))
        {
            return ParityReport.Read(Encoding.UTF8.GetString(bytes));
        }

        throw new PublishRefusedException($"Refusing to publish {request.Name}: no parity report (pass PublishRequest.Parity or a {ParityFile} artifact).");
    }

    private static string MetricsJson(IReadOnlyDictionary<string, double> training, JsonNode? evaluation, ParityReport parity)
    {
        var trainingNode = new JsonObject();
        foreach (var (key, value) in training.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            trainingNode[key] = double.IsFinite(value) ? value : null;
        }

        var metrics = new JsonObject
        {
            ["training"] = trainingNode,
            ["evaluation"] = evaluation,
            ["parity"] = new JsonObject
            {
                ["maxAbsDiff"] = double.IsFinite(parity.MaxAbsDiff) ? parity.MaxAbsDiff : null,
                ["tolerance"] = parity.Tolerance,
                ["passed"] = parity.Passed,
                ["top1Mismatches"] = parity.Top1Mismatches,
            },
        };
        return metrics.ToJsonString(PipelineJson.Options);
    }

    private static string ContentType(string blobName) => Path.GetExtension(blobName) switch
    {
        ".json" => "application/json",
        ".md" => "text/markdown; charset=utf-8",
        ".png" => "image/png",
        ".txt" => "text/plain; charset=utf-8",
        _ => blobName.EndsWith(Sha256Sums.FileName, StringComparison.Ordinal) ? "text/plain; charset=utf-8" : "application/octet-stream",
    };
}
