using System.Text.Json;
using Pipeline.Core;

namespace Pipeline.Inference.Heads;

/// <summary>
/// classifier.json beside a model: a linear probe over its embeddings (logits = W e + b, softmax), as the evaluation
/// step fits it. <see cref="NormalizeInput"/> says whether the probe was fitted on L2-normalised embeddings.
/// </summary>
public sealed record LinearHead
{
    public const string FileName = "classifier.json";

    public required IReadOnlyList<string> Labels { get; init; }

    /// <summary>[labels][dimensions].</summary>
    public required IReadOnlyList<float[]> Weights { get; init; }

    public required float[] Bias { get; init; }

    public bool NormalizeInput { get; init; }

    public int Dimensions => Weights.Count == 0 ? 0 : Weights[0].Length;

    public static LinearHead Parse(string json)
    {
        var head = JsonSerializer.Deserialize<LinearHead>(json, PipelineJson.Options) ?? throw new InvalidDataException("classifier.json is empty.");
        if (head.Labels.Count < 2 || head.Weights.Count != head.Labels.Count || head.Bias.Length != head.Labels.Count
            || head.Weights.Any(w => w.Length == 0 || w.Length != head.Weights[0].Length))
        {
            throw new InvalidDataException("classifier.json needs >= 2 labels, one weight row (all the same length) and one bias per label.");
        }

        return head;
    }

    /// <summary>Softmax probabilities per label for one embedding.</summary>
    public float[] Predict(ReadOnlySpan<float> embedding)
    {
        if (embedding.Length != Dimensions)
        {
            throw new InvalidDataException($"classifier.json expects {Dimensions}-dimensional embeddings; the model gives {embedding.Length}.");
        }

        var input = embedding.ToArray();
        if (NormalizeInput)
        {
            VectorMath.NormalizeInPlace(input);
        }

        var logits = new float[Labels.Count];
        for (var k = 0; k < logits.Length; k++)
        {
            logits[k] = VectorMath.Dot(Weights[k], input) + Bias[k];
        }

        return VectorMath.Softmax(logits);
    }
}
