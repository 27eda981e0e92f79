using Pipeline.Core.Models;
using Pipeline.Training.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Models;

public class MaskDropoutTests
{
    [Fact]
    public void Drops_p_of_the_elements_and_scales_the_rest_by_one_over_one_minus_p()
    {
        torch.manual_seed(1);
        using var x = rand(400, 500) + 1; // no zeros of its own
        using var y = MaskDropout.Apply(x, 0.1, training: true);
        var dropped = y.eq(0).to(ScalarType.Float32).mean().item<float>();
        Assert.InRange(dropped, 0.095, 0.105);
        using var kept = y.ne(0);
        var maxError = (y.masked_select(kept) - (x.masked_select(kept) / 0.9f)).abs().max().item<float>();
        Assert.True(maxError < 1e-5f, $"kept values off by {maxError}");
    }

    [Fact]
    public void The_mask_follows_torchs_generator_so_a_restored_rng_state_replays_it()
    {
        using var x = ones(64, 33);
        torch.manual_seed(5);
        using var state = torch.get_rng_state();
        using var a = MaskDropout.Apply(x, 0.3, training: true);
        using var b = MaskDropout.Apply(x, 0.3, training: true);
        torch.set_rng_state(state);
        using var replay = MaskDropout.Apply(x, 0.3, training: true);
        Assert.Equal(0f, (a - replay).abs().max().item<float>());
        Assert.NotEqual(0f, (a - b).abs().max().item<float>());
    }

    [Theory]
    [InlineData(1003, 0.1)] // a vectorised body and a scalar tail
    [InlineData(7, 0.5)]
    [InlineData(64, 0.999999)] // threshold 65536: nothing kept
    public void The_mask_is_the_documented_SplitMix64_stream_element_for_element(int n, double p)
    {
        torch.manual_seed(21);
        ulong seed;
        using (var drawn = randint(long.MinValue, long.MaxValue, [1], ScalarType.Int64))
        {
            seed = unchecked((ulong)drawn.item<long>());
        }

        torch.manual_seed(21);
        using var x = ones(n);
        using var y = MaskDropout.Apply(x, p, training: true);
        var actual = y.data<float>().ToArray();
        var threshold = (uint)Math.Round(p * 65536.0);
        var keep = (float)(1.0 / (1.0 - p));
        var state = seed;
        ulong word = 0;
        for (var i = 0; i < n; i++)
        {
            if (i % 4 == 0)
            {
                var z = state += 0x9E3779B97F4A7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                word = z ^ (z >> 31);
            }

            var expected = (uint)((word >> (16 * (i % 4))) & 0xFFFF) >= threshold ? keep : 0f;
            Assert.Equal(expected, actual[i]);
        }
    }

    [Fact]
    public void AddTo_is_the_residual_plus_the_same_dropout()
    {
        using var x = randn(32, 48);
        using var residual = randn(32, 48);
        torch.manual_seed(8);
        using var fused = MaskDropout.AddTo(residual, x, 0.2, training: true);
        torch.manual_seed(8);
        using var dropped = MaskDropout.Apply(x, 0.2, training: true);
        using var expected = residual + dropped;
        Assert.True((fused - expected).abs().max().item<float>() < 1e-6f);
    }

    [Fact]
    public void In_eval_or_at_zero_probability_it_is_the_identity()
    {
        using var x = randn(3, 4);
        Assert.Same(x, MaskDropout.Apply(x, 0.5, training: false));
        Assert.Same(x, MaskDropout.Apply(x, 0.0, training: true));
    }

    [Fact]
    public void Training_attention_written_out_matches_scaled_dot_product_attention_with_padding()
    {
        // Attention dropout so small it quantises to keeping everything: the training path (matmul-softmax with
        // MaskDropout) must then compute what the eval path (scaled_dot_product_attention) does, padding included.
        var config = new TextEncoderConfig { VocabSize = 50, Hidden = 16, Heads = 2, Layers = 2, Intermediate = 32, MaxPositions = 16, Dropout = 0, AttentionDropout = 1e-9 };
        torch.manual_seed(2);
        using var model = new TextEncoder(config);
        using var ids = tensor(new long[] { 2, 7, 9, 11, 3, 0, 0, 2, 8, 3, 0, 0, 0, 0 }).reshape(2, 7);
        using var mask = ids.ne(0).to(ScalarType.Int64);
        using var types = zeros_like(ids);
        model.train();
        using var trained = model.forward(ids, mask, types);
        model.eval();
        using var evaluated = model.forward(ids, mask, types);
        Assert.True((trained - evaluated).abs().max().item<float>() < 1e-5f);
    }
}
