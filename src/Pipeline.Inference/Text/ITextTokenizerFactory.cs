namespace Pipeline.Inference.Text;

/// <summary>Builds a model's tokeniser from its vocab.txt and the normalisation options in its config.json.</summary>
public interface ITextTokenizerFactory
{
    ITextTokenizer Create(Stream vocabTxt, TextModelSettings settings);
}
