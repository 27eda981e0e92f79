using Pipeline.Core.Models;
using Pipeline.Training.Models.Text;
using static Pipeline.Training.Export.OnnxGraphBuilder;

namespace Pipeline.Training.Export;

/// <summary>
/// Writes mlm.onnx for fill-mask: the encoder's inputs, output logits [batch, sequence, vocab]. The decoder stays
/// tied: it reads the word-embedding initializer through a Transpose (constant-folded by ONNX Runtime), so the file
/// holds the matrix once.
/// </summary>
public static class MlmOnnxExporter
{
    public const string Logits = "logits";

    public static void Export(MaskedLanguageModel model, TextEncoderConfig config, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (config != model.Config)
        {
            throw new ArgumentException("The config passed to the exporter differs from the model's own config; export with model.Config.", nameof(config));
        }

        Save(Build(model), path);
    }

    public static Onnx.ModelProto Build(MaskedLanguageModel model)
    {
        TextEncoderGraph.EnsureSupported(model.encoder);
        var config = model.Config;
        var g = new OnnxGraphBuilder("masked_language_model");
        TextEncoderGraph.DeclareInputs(g);
        var hidden = TextEncoderGraph.Emit(g, model.encoder);

        // Mirrors MaskedLanguageModel.Head.
        var h = TextEncoderGraph.Linear(g, hidden, model.head_dense, "head_dense");
        h = TextEncoderGraph.LayerNorm(g, TextEncoderGraph.Gelu(g, h), model.head_norm, "head_norm", config.LayerNormEps);
        var decoder = g.Node("Transpose", ["embeddings.word_embeddings.weight"], "decoder_weight", Attr("perm", new long[] { 1, 0 }));
        var bias = g.Initializer("decoder_bias", model.decoder_bias);
        g.Node("Add", [g.Node("MatMul", [h, decoder]), bias], Logits);
        g.Output(Logits, OnnxElementType.Float, TextEncoderGraph.Batch, TextEncoderGraph.Sequence, config.VocabSize);
        return g.Build(
            "Pipeline BERT-style text encoder with its tied masked-language-model head (fill-mask).",
            new Dictionary<string, string> { ["vocab_size"] = config.VocabSize.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }
}
