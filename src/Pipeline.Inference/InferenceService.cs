using System.Text.Json;
using Pipeline.Inference.Images;
using Pipeline.Inference.Registry;
using Pipeline.Inference.Sessions;
using Pipeline.Inference.Text;

namespace Pipeline.Inference;

/// <summary>
/// The downstream-inference operations over published encoders: embed, fill-mask, similarity, classify, embed-image.
/// No HTTP types: the local host's minimal API and the Functions HTTP triggers both call this. Validation errors are
/// <see cref="InferenceException"/>s that name the limit or field.
/// </summary>
public sealed class InferenceService(ModelProvider models, InferenceOptions options)
{
    private const string MaskToken = "[MASK]";

    public InferenceOptions Options { get; } = options;

    public async Task<EmbedResponse> EmbedAsync(string name, string? version, EmbedRequest request, CancellationToken ct, string? variant = null)
    {
        var texts = RequireTexts(request.Texts, "texts");
        using var lease = await models.AcquireAsync(name, version, ct, variant).ConfigureAwait(false);
        var model = RequireKind(lease.Model, ModelKind.Text, "embed-image");
        var (sequences, usage) = Tokenize(model, texts, request.Truncate);
        var embeddings = await model.EmbedTokensAsync(sequences, ct).ConfigureAwait(false);
        if (request.Normalize ?? model.TextSettings!.NormalizeEmbedding)
        {
            foreach (var e in embeddings)
            {
                VectorMath.NormalizeInPlace(e);
            }
        }

        return new EmbedResponse(model.Name, model.Version, model.Dimensions, embeddings, usage) { Variant = model.Variant };
    }

    public async Task<FillMaskResponse> FillMaskAsync(string name, string? version, FillMaskRequest request, CancellationToken ct, string? variant = null)
    {
        var text = RequireText(request.Text, "text");
        if (request.TopK < 1 || request.TopK > Options.Limits.MaxTopK)
        {
            throw InferenceException.BadRequest($"topK must be 1..{Options.Limits.MaxTopK}.");
        }

        var pieces = text.Split(MaskToken);
        if (pieces.Length < 2)
        {
            throw InferenceException.BadRequest($"The text has no {MaskToken}; put {MaskToken} where a token should be predicted.");
        }

        if (pieces.Length - 1 > 16)
        {
            throw InferenceException.BadRequest($"The text has {pieces.Length - 1} {MaskToken} tokens; at most 16.");
        }

        using var lease = await models.AcquireAsync(name, version, ct, variant).ConfigureAwait(false);
        var model = RequireKind(lease.Model, ModelKind.Text, "embed-image");
        var tokenizer = model.Tokenizer!;
        var ids = new List<int> { tokenizer.ClsId };
        var maskPositions = new List<int>();
        for (var i = 0; i < pieces.Length; i++)
        {
            if (i > 0)
            {
                maskPositions.Add(ids.Count);
                ids.Add(tokenizer.MaskId);
            }

            ids.AddRange(tokenizer.EncodePieces(pieces[i]));
        }

        ids.Add(tokenizer.SepId);
        if (ids.Count > model.TextSettings!.MaxPositions)
        {
            throw InferenceException.BadRequest($"The text is {ids.Count} tokens; fill-mask takes at most {model.TextSettings.MaxPositions} (it is not truncated, so no [MASK] is lost).");
        }

        if (!model.HasMlm)
        {
            throw InferenceException.NotFound($"Model {model.Name}/{model.Version} has no fill-mask head (mlm.onnx is not published).");
        }

        var sequence = ids.ToArray();
        var logits = model.MaskedLogits(sequence, out var vocab);
        var masks = new List<MaskPredictions>();
        foreach (var position in maskPositions)
        {
            var probabilities = VectorMath.Softmax(logits.AsSpan(position * vocab, vocab));
            var top = Enumerable.Range(0, vocab)
                .OrderByDescending(i => probabilities[i])
                .Take(request.TopK)
                .Select(i => new TokenScore(tokenizer.Token(i), i, probabilities[i]))
                .ToList();
            masks.Add(new MaskPredictions(position, top));
        }

        return new FillMaskResponse(model.Name, model.Version, masks) { Variant = model.Variant };
    }

    public async Task<SimilarityResponse> SimilarityAsync(string name, string? version, SimilarityRequest request, CancellationToken ct, string? variant = null)
    {
        var query = RequireText(request.Query, "query");
        var candidates = RequireTexts(request.Candidates, "candidates", Options.Limits.MaxCandidates);
        if (request.TopK is { } k && (k < 1 || k > Options.Limits.MaxCandidates))
        {
            throw InferenceException.BadRequest($"topK must be 1..{Options.Limits.MaxCandidates}.");
        }

        using var lease = await models.AcquireAsync(name, version, ct, variant).ConfigureAwait(false);
        var model = RequireKind(lease.Model, ModelKind.Text, "embed-image");
        var (sequences, _) = Tokenize(model, [query, .. candidates], truncate: true);
        var embeddings = await model.EmbedTokensAsync(sequences, ct).ConfigureAwait(false);
        var ranked = candidates
            .Select((text, i) => new RankedCandidate(i, text, VectorMath.Cosine(embeddings[0], embeddings[i + 1])))
            .OrderByDescending(r => r.Score)
            .ThenBy(r => r.Index)
            .Take(request.TopK ?? candidates.Count)
            .ToList();
        return new SimilarityResponse(model.Name, model.Version, ranked) { Variant = model.Variant };
    }

    public async Task<ClassifyResponse> ClassifyAsync(string name, string? version, ClassifyRequest request, CancellationToken ct, string? variant = null)
    {
        using var lease = await models.AcquireAsync(name, version, ct, variant).ConfigureAwait(false);
        var model = lease.Model;
        var head = model.Head ?? throw InferenceException.NotFound(
            $"Model {model.Name}/{model.Version} has no classifier (no classifier.json was published with it).");
        float[][] embeddings;
        if (model.Kind == ModelKind.Text)
        {
            if (request.Images is not null)
            {
                throw InferenceException.BadRequest($"Model {model.Name} is a text model: send \"texts\", not \"images\".");
            }

            var (sequences, _) = Tokenize(model, RequireTexts(request.Texts, "texts"), truncate: true);
            embeddings = await model.EmbedTokensAsync(sequences, ct).ConfigureAwait(false);
        }
        else
        {
            if (request.Texts is not null)
            {
                throw InferenceException.BadRequest($"Model {model.Name} is an image model: send \"images\" (base64 PNG/JPEG), not \"texts\".");
            }

            embeddings = await EmbedImagesAsync(model, DecodeBase64Images(request.Images), ct).ConfigureAwait(false);
        }

        var predictions = embeddings.Select(e =>
        {
            var p = head.Predict(e);
            var best = Array.IndexOf(p, p.Max());
            var scores = head.Labels.Select((label, i) => (label, i)).ToDictionary(x => x.label, x => p[x.i], StringComparer.Ordinal);
            return new Classification(head.Labels[best], p[best], scores);
        }).ToList();
        return new ClassifyResponse(model.Name, model.Version, predictions) { Variant = model.Variant };
    }

    /// <summary>Embeds PNG/JPEG images (raw bytes each).</summary>
    public async Task<EmbedImageResponse> EmbedImagesAsync(string name, string? version, IReadOnlyList<ReadOnlyMemory<byte>> images, bool normalize, CancellationToken ct, string? variant = null)
    {
        if (images.Count == 0)
        {
            throw InferenceException.BadRequest("No image: send a PNG/JPEG body, or JSON {\"images\": [\"<base64>\", ...]}.");
        }

        if (images.Count > Options.Limits.MaxItems)
        {
            throw InferenceException.BadRequest($"{images.Count} images; at most {Options.Limits.MaxItems} per request.");
        }

        using var lease = await models.AcquireAsync(name, version, ct, variant).ConfigureAwait(false);
        var model = RequireKind(lease.Model, ModelKind.Image, "embed");
        var embeddings = await EmbedImagesAsync(model, images, ct).ConfigureAwait(false);
        if (normalize)
        {
            foreach (var e in embeddings)
            {
                VectorMath.NormalizeInPlace(e);
            }
        }

        return new EmbedImageResponse(model.Name, model.Version, model.Dimensions, embeddings) { Variant = model.Variant };
    }

    public Task<EmbedImageResponse> EmbedImagesAsync(string name, string? version, EmbedImageRequest request, CancellationToken ct, string? variant = null) =>
        EmbedImagesAsync(name, version, DecodeBase64Images(request.Images), request.Normalize, ct, variant);

    public async Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken ct) => await models.Source.ListModelsAsync(ct).ConfigureAwait(false);

    /// <summary>Versions, latest, model card and metrics of one model (of <paramref name="version"/>, else of latest).</summary>
    public async Task<ModelDescription> DescribeAsync(string name, string? version, CancellationToken ct)
    {
        ModelNames.RequireValidName(name);
        ModelNames.RequireValidVersion(version);
        var versions = await models.Source.ListVersionsAsync(name, ct).ConfigureAwait(false);
        var latest = await models.Source.GetLatestAsync(name, null, ct).ConfigureAwait(false);
        if (versions.Count == 0 && latest.Alias is null)
        {
            throw InferenceException.NotFound($"Model '{name}' is not in the registry.");
        }

        var shown = version ?? latest.Alias?.Version;
        if (version is not null && !versions.Contains(version))
        {
            throw InferenceException.NotFound($"Model '{name}' has no version {version}; published: {string.Join(", ", versions)}.");
        }

        string? card = null;
        JsonElement? metrics = null;
        var hasClassifier = false;
        if (shown is not null)
        {
            card = await models.Source.TryReadTextAsync(name, shown, "model-card.md", ct).ConfigureAwait(false);
            var metricsJson = await models.Source.TryReadTextAsync(name, shown, "metrics.json", ct).ConfigureAwait(false);
            if (metricsJson is not null)
            {
                try
                {
                    metrics = JsonDocument.Parse(metricsJson).RootElement.Clone();
                }
                catch (JsonException)
                {
                    metrics = null;
                }
            }

            hasClassifier = await models.Source.TryReadTextAsync(name, shown, Heads.LinearHead.FileName, ct).ConfigureAwait(false) is not null;
        }

        return new ModelDescription(name, latest.Alias?.Version, latest.Alias?.PublishedAt, versions, shown, card, metrics, hasClassifier);
    }

    private async Task<float[][]> EmbedImagesAsync(LoadedModel model, IReadOnlyList<ReadOnlyMemory<byte>> images, CancellationToken ct)
    {
        var spec = model.ImageSpec!;
        var pixels = new List<float[]>(images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            try
            {
                pixels.Add(ImageInput.ToPixelValues(images[i].Span, spec, Options.Limits));
            }
            catch (InferenceException e) when (images.Count > 1)
            {
                throw new InferenceException(e.Kind, $"Image {i}: {e.Message}");
            }
        }

        return await model.EmbedPixelsAsync(pixels, ct).ConfigureAwait(false);
    }

    private List<ReadOnlyMemory<byte>> DecodeBase64Images(IReadOnlyList<string?>? images)
    {
        if (images is null || images.Count == 0)
        {
            throw InferenceException.BadRequest("\"images\" must be a non-empty array of base64 PNG/JPEG strings.");
        }

        if (images.Count > Options.Limits.MaxItems)
        {
            throw InferenceException.BadRequest($"{images.Count} images; at most {Options.Limits.MaxItems} per request.");
        }

        var decoded = new List<ReadOnlyMemory<byte>>(images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            var text = images[i];
            if (string.IsNullOrEmpty(text))
            {
                throw InferenceException.BadRequest($"images[{i}] is empty.");
            }

            var comma = text.StartsWith("data:", StringComparison.Ordinal) ? text.IndexOf(',') : -1;
            var payload = comma >= 0 ? text[(comma + 1)..] : text;
            if (payload.Length / 4 * 3 > Options.Limits.MaxImageBytes)
            {
                throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"images[{i}] is over {Options.Limits.MaxImageBytes} bytes.");
            }

            var buffer = new byte[(payload.Length / 4 * 3) + 3];
            if (!Convert.TryFromBase64String(payload, buffer, out var written))
            {
                throw InferenceException.BadRequest($"images[{i}] is not valid base64.");
            }

            decoded.Add(buffer.AsMemory(0, written));
        }

        return decoded;
    }

    private (List<int[]> Sequences, List<TokenUsage> Usage) Tokenize(LoadedModel model, IReadOnlyList<string> texts, bool truncate)
    {
        var tokenizer = model.Tokenizer!;
        var max = model.TextSettings!.MaxPositions;
        var sequences = new List<int[]>(texts.Count);
        var usage = new List<TokenUsage>(texts.Count);
        for (var i = 0; i < texts.Count; i++)
        {
            var encoded = tokenizer.Encode(texts[i], max);
            if (encoded.Truncated && !truncate)
            {
                throw InferenceException.BadRequest($"texts[{i}] is {encoded.OriginalLength} tokens; the model takes {max}. Shorten it or set \"truncate\": true.");
            }

            sequences.Add(encoded.Ids);
            usage.Add(new TokenUsage(encoded.Ids.Length, encoded.Truncated, encoded.OriginalLength));
        }

        return (sequences, usage);
    }

    private static LoadedModel RequireKind(LoadedModel model, ModelKind kind, string alternative)
    {
        if (model.Kind != kind)
        {
            throw InferenceException.BadRequest($"Model {model.Name} is a {model.Kind.ToString().ToLowerInvariant()} model; use /{alternative} for it.");
        }

        return model;
    }

    private string RequireText(string? text, string field)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw InferenceException.BadRequest($"\"{field}\" must be a non-empty string.");
        }

        if (text.Length > Options.Limits.MaxTextChars)
        {
            throw new InferenceException(InferenceErrorKind.PayloadTooLarge, $"\"{field}\" is {text.Length} characters; the limit is {Options.Limits.MaxTextChars}.");
        }

        return text;
    }

    private List<string> RequireTexts(IReadOnlyList<string?>? texts, string field, int? maxItems = null)
    {
        var limit = maxItems ?? Options.Limits.MaxItems;
        if (texts is null || texts.Count == 0)
        {
            throw InferenceException.BadRequest($"\"{field}\" must be a non-empty array of strings.");
        }

        if (texts.Count > limit)
        {
            throw InferenceException.BadRequest($"\"{field}\" has {texts.Count} items; at most {limit} per request.");
        }

        return texts.Select((t, i) => RequireText(t, $"{field}[{i}]")).ToList();
    }
}
