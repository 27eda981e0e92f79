using Pipeline.Core.Models;
using Pipeline.Training.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Models;

public class TextEncoderTests
{
    private static readonly TextEncoderConfig Tiny = new() { VocabSize = 50, Hidden = 16, Heads = 2, Layers = 2, Intermediate = 32, MaxPositions = 16 };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Padding_does_not_change_the_real_tokens_or_the_mean_pooled_embedding(bool preLn)
    {
        torch.manual_seed(3);
        using var model = new TextEncoder(Tiny with { PreLayerNorm = preLn });
        model.eval();
        using var ids = tensor(new long[] { 2, 7, 9, 11, 3 }).reshape(1, 5);
        using var padded = tensor(new long[] { 2, 7, 9, 11, 3, 0, 0 }).reshape(1, 7);
        using var mask = ones(1, 5, dtype: ScalarType.Int64);
        using var paddedMask = tensor(new long[] { 1, 1, 1, 1, 1, 0, 0 }).reshape(1, 7);

        using var h = model.forward(ids, mask, zeros_like(ids));
        using var hp = model.forward(padded, paddedMask, zeros_like(padded));
        using var e = model.Pool(h, mask);
        using var ep = model.Pool(hp, paddedMask);

        Assert.True((h - hp.narrow(1, 0, 5)).abs().max().item<float>() < 1e-5f);
        Assert.True((e - ep).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void Mlm_head_is_tied_to_the_word_embedding_and_gradients_reach_every_parameter()
    {
        torch.manual_seed(4);
        using var model = new MaskedLanguageModel(Tiny);
        using var ids = randint(5, 50, [3, 8], dtype: ScalarType.Int64);
        using var logits = model.forward(ids, ones_like(ids), zeros_like(ids));
        Assert.Equal(new long[] { 3, 8, 50 }, logits.shape);

        using var loss = nn.functional.cross_entropy(logits.view(-1, 50), ids.view(-1));
        loss.backward();
        var parameters = model.named_parameters().ToList();
        Assert.DoesNotContain(parameters, p => p.name.Contains("decoder_weight"));
        // The unused position rows get no gradient; every parameter tensor still gets one.
        Assert.All(parameters, p => Assert.NotNull(p.parameter.grad));
        var std = model.encoder.embeddings.word_embeddings.weight!.std().item<float>();
        Assert.InRange(std, 0.015f, 0.025f);
    }
}
