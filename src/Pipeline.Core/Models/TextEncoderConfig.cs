using System.Text.Json.Serialization;

namespace Pipeline.Core.Models;

/// <summary>
/// Architecture of the BERT-style text encoder. Written to the registry's config.json, read by the trainer, the
/// exporter and the inference service, so all three build the same network.
/// </summary>
public sealed record TextEncoderConfig
{
    public int VocabSize { get; init; } = 2000;

    public int MaxPositions { get; init; } = 128;

    public int TypeVocabSize { get; init; } = 2;

    public int Hidden { get; init; } = 128;

    public int Layers { get; init; } = 2;

    public int Heads { get; init; } = 4;

    public int Intermediate { get; init; } = 512;

    public double Dropout { get; init; } = 0.1;

    public double AttentionDropout { get; init; } = 0.1;

    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>Pre-LN (LayerNorm before attention/FFN, final LayerNorm) trains more stably when small; post-LN is BERT's.</summary>
    public bool PreLayerNorm { get; init; } = true;

    /// <summary>
    /// How last_hidden_state becomes sentence_embedding: "mean" (masked mean), "cls" (first token), or
    /// "mean-first-last" (masked means of the embedding layer's output and of the last layer, concatenated: 2 x Hidden).
    /// </summary>
    public string Pooling { get; init; } = TextPooling.Mean;

    /// <summary>Whether sentence_embedding is L2-normalised.</summary>
    public bool NormalizeEmbedding { get; init; }

    public int PadTokenId { get; init; }

    [JsonIgnore]
    public int HeadDim => Hidden / Heads;

    /// <summary>Throws with a message that names the bad field and how to fix it.</summary>
    public TextEncoderConfig Validate()
    {
        Require(VocabSize > 5, "VocabSize must exceed the 5 special tokens.");
        Require(MaxPositions > 0, "MaxPositions must be positive.");
        Require(TypeVocabSize > 0, "TypeVocabSize must be positive.");
        Require(Hidden > 0 && Heads > 0 && Hidden % Heads == 0, $"Hidden ({Hidden}) must be a positive multiple of Heads ({Heads}).");
        Require(Layers > 0, "Layers must be positive.");
        Require(Intermediate > 0, "Intermediate must be positive.");
        Require(Dropout is >= 0 and < 1 && AttentionDropout is >= 0 and < 1, "Dropout probabilities must be in [0, 1).");
        Require(LayerNormEps > 0, "LayerNormEps must be positive.");
        Require(Pooling is TextPooling.Mean or TextPooling.Cls or TextPooling.MeanFirstLast,
            $"Pooling '{Pooling}' is not supported; use '{TextPooling.Mean}', '{TextPooling.Cls}' or '{TextPooling.MeanFirstLast}'.");
        Require(PadTokenId >= 0 && PadTokenId < VocabSize, "PadTokenId must be a token id.");
        return this;
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"Invalid text encoder config: {message}");
        }
    }
}

/// <summary>The pooling names accepted in <see cref="TextEncoderConfig.Pooling"/>.</summary>
public static class TextPooling
{
    public const string Mean = "mean";
    public const string Cls = "cls";

    /// <summary>[masked mean of the embedding output, masked mean of the last layer]: word-level and contextual features.</summary>
    public const string MeanFirstLast = "mean-first-last";

    /// <summary>sentence_embedding's width for a pooling.</summary>
    public static int Dimensions(string pooling, int hidden) => pooling == MeanFirstLast ? 2 * hidden : hidden;
}
