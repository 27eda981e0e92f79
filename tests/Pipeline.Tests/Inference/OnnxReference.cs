using Microsoft.ML.OnnxRuntime;
using Pipeline.Core.Text;

namespace Pipeline.Tests.Inference;

/// <summary>ONNX Runtime called directly, one sequence at a time: what the HTTP answers are checked against.</summary>
public static class OnnxReference
{
    public static WordPieceEncoder Tokenizer() =>
        WordPieceEncoder.Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(TestRegistry.VocabText)), TextNormalization.Default);

    public static int[] Ids(string text, int maxLength = 16) => Tokenizer().Encode(text, maxLength).InputIds;

    public static float[] SentenceEmbedding(byte[] model, int[] ids) => RunText(model, ids, "sentence_embedding");

    public static float[] MlmLogits(byte[] model, int[] ids) => RunText(model, ids, "logits");

    public static float[] ImageEmbedding(byte[] model, float[] pixels, long[] shape)
    {
        using var session = new InferenceSession(model);
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, shape);
        using var results = session.Run(new RunOptions(), ["pixel_values"], [input], ["embedding"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] RunText(byte[] model, int[] ids, string output)
    {
        using var session = new InferenceSession(model);
        long[] shape = [1, ids.Length];
        using var inputIds = OrtValue.CreateTensorValueFromMemory(ids.Select(i => (long)i).ToArray(), shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), shape);
        using var types = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
        using var results = session.Run(new RunOptions(), ["input_ids", "attention_mask", "token_type_ids"], [inputIds, mask, types], [output]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public static float Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }

        return (float)(dot / Math.Sqrt(na * nb));
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
