using Pipeline.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Training.Models.Text;

// The BERT-style encoder, readable top to bottom: embeddings -> N transformer blocks -> (final LayerNorm when pre-LN).
// The ONNX exporter mirrors this file operation for operation; change both together.

/// <summary>Token + position + token-type embeddings, then LayerNorm (post-LN) and dropout.</summary>
public sealed class TextEmbeddings : nn.Module<Tensor, Tensor, Tensor>
{
    public readonly Embedding word_embeddings;
    public readonly Embedding position_embeddings;
    public readonly Embedding token_type_embeddings;
    public readonly LayerNorm? layer_norm;
    private readonly double _dropout;

    public TextEmbeddings(TextEncoderConfig config) : base(nameof(TextEmbeddings))
    {
        word_embeddings = nn.Embedding(config.VocabSize, config.Hidden);
        position_embeddings = nn.Embedding(config.MaxPositions, config.Hidden);
        token_type_embeddings = nn.Embedding(config.TypeVocabSize, config.Hidden);
        // Pre-LN normalises inside each block instead; post-LN (BERT) normalises the embedding sum.
        layer_norm = config.PreLayerNorm ? null : nn.LayerNorm([config.Hidden], config.LayerNormEps);
        _dropout = config.Dropout;
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var positions = arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        Tensor x;
        if (tokenTypeIds.numel() > 0 && tokenTypeIds.max().item<long>() == 0)
        {
            // Single-segment input (every MLM batch): the token-type term is row 0 for every token, so it joins the
            // [1, seq, hidden] position term before the one broadcast add, instead of a [batch, seq, hidden] lookup,
            // an extra add and a scatter-add in backward.
            var positionAndType = position_embeddings.forward(positions) + token_type_embeddings.weight!.select(0, 0);
            x = word_embeddings.forward(inputIds) + positionAndType;
        }
        else
        {
            x = word_embeddings.forward(inputIds) + position_embeddings.forward(positions) + token_type_embeddings.forward(tokenTypeIds);
        }

        if (layer_norm is not null)
        {
            x = layer_norm.forward(x);
        }

        return MaskDropout.Apply(x, _dropout, training).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention written out (fused q/k/v projection, scaled_dot_product_attention).</summary>
public sealed class SelfAttention : nn.Module<Tensor, Tensor, Tensor>
{
    public readonly Linear qkv;
    public readonly Linear output;
    private readonly int _heads;
    private readonly int _headDim;
    private readonly double _attentionDropout;

    public SelfAttention(TextEncoderConfig config) : base(nameof(SelfAttention))
    {
        _heads = config.Heads;
        _headDim = config.HeadDim;
        _attentionDropout = config.AttentionDropout;
        qkv = nn.Linear(config.Hidden, 3L * config.Hidden);
        output = nn.Linear(config.Hidden, config.Hidden);
        RegisterComponents();
    }

    /// <param name="x">[batch, seq, hidden]</param>
    /// <param name="additiveMask">[batch, 1, 1, seq]: 0 for real tokens, a large negative number for padding; null
    /// (training only) when the batch has no padding.</param>
    public override Tensor forward(Tensor x, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        // One copy into [3, b, h, t, d], then unbind: q, k and v are contiguous, so their [b * h, t, d] reshapes below are
        // views, and backward stacks the three gradients in one pass (indexing [0], [1], [2] of the permuted view made
        // three copies, and backward zero-filled three full-size [3, b, h, t, d] gradients and added them up).
        var qkvOut = qkv.forward(x).view(b, t, 3, _heads, _headDim).permute(2, 0, 3, 1, 4).contiguous().unbind(0); // 3 x [b, h, t, d]
        var q = qkvOut[0];
        var k = qkvOut[1];
        var v = qkvOut[2];
        Tensor attended;
        if (training && _attentionDropout > 0)
        {
            // libtorch's scaled_dot_product_attention with dropout takes its composite path and draws the dropout
            // mask element by element (~7x the cost of the fused kernel here): write it out with MaskDropout instead.
            // One batched GEMM per product over [batch * heads]; the 1/sqrt(d) scale and the padding mask ride in
            // baddbmm's alpha and beta instead of two extra passes over the [t, t] scores (forward and backward).
            var bh = b * _heads;
            var keysT = k.reshape(bh, t, _headDim).transpose(1, 2);
            var scale = (float)(1.0 / Math.Sqrt(_headDim));
            // No padding in the batch (the packed loader's usual case): adding the all-zero mask is skipped (beta 0).
            var addend = additiveMask is null ? zeros(1, 1, 1, dtype: x.dtype, device: x.device) : additiveMask.expand(b, _heads, t, t).reshape(bh, t, t);
            // TorchSharp's baddbmm is batch1.baddbmm(batch2, input): input * beta + alpha * (batch1 @ batch2).
            var scores = q.reshape(bh, t, _headDim).baddbmm(keysT, addend, beta: additiveMask is null ? 0 : 1, alpha: scale);
            var probs = MaskDropout.Apply(scores.softmax(-1), _attentionDropout, training: true);
            attended = bmm(probs, v.reshape(bh, t, _headDim)).view(b, _heads, t, _headDim);
        }
        else
        {
            attended = nn.functional.scaled_dot_product_attention(q, k, v, additiveMask);
        }

        var merged = attended.transpose(1, 2).reshape(b, t, _heads * _headDim);
        return output.forward(merged).MoveToOuterDisposeScope();
    }
}

/// <summary>One transformer block: attention and a GELU feed-forward, each with a residual and LayerNorm.</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor, Tensor>
{
    public readonly SelfAttention attention;
    public readonly LayerNorm attention_norm;
    public readonly Linear ff_in;
    public readonly Linear ff_out;
    public readonly LayerNorm ff_norm;
    private readonly double _dropout;
    private readonly bool _preLn;

    public TransformerBlock(TextEncoderConfig config) : base(nameof(TransformerBlock))
    {
        _preLn = config.PreLayerNorm;
        attention = new SelfAttention(config);
        attention_norm = nn.LayerNorm([config.Hidden], config.LayerNormEps);
        ff_in = nn.Linear(config.Hidden, config.Intermediate);
        ff_out = nn.Linear(config.Intermediate, config.Hidden);
        ff_norm = nn.LayerNorm([config.Hidden], config.LayerNormEps);
        _dropout = config.Dropout;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        Tensor h;
        if (_preLn)
        {
            h = Residual(x, attention.forward(attention_norm.forward(x), additiveMask));
            h = Residual(h, FeedForward(ff_norm.forward(h)));
        }
        else
        {
            h = attention_norm.forward(Residual(x, attention.forward(x, additiveMask)));
            h = ff_norm.forward(Residual(h, FeedForward(h)));
        }

        return h.MoveToOuterDisposeScope();
    }

    /// <summary>residual + dropout(branch), fused into one op while training.</summary>
    private Tensor Residual(Tensor residual, Tensor branch) => MaskDropout.AddTo(residual, branch, _dropout, training);

    // Exact (erf) GELU, as in BERT and as exported to ONNX.
    private Tensor FeedForward(Tensor x) => ff_out.forward(nn.functional.gelu(ff_in.forward(x)));
}

/// <summary>
/// The text encoder: returns last_hidden_state [batch, seq, hidden]. <see cref="Pool"/> turns it into the
/// sentence embedding exactly as the exported ONNX graph does.
/// </summary>
public sealed class TextEncoder : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>Added to attention scores at padding positions (softmax weight underflows to exactly 0 in fp32).</summary>
    public const float MaskedScore = -1e9f;

    public readonly TextEmbeddings embeddings;
    public readonly ModuleList<TransformerBlock> blocks;
    public readonly LayerNorm? final_norm;

    public TextEncoder(TextEncoderConfig config) : base(nameof(TextEncoder))
    {
        Config = config.Validate();
        embeddings = new TextEmbeddings(config);
        blocks = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new TransformerBlock(config)).ToArray());
        final_norm = config.PreLayerNorm ? nn.LayerNorm([config.Hidden], config.LayerNormEps) : null;
        RegisterComponents();
        InitializeBertStyle(this);
    }

    public TextEncoderConfig Config { get; }

    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        // While training, a batch without padding skips the mask (adding zeros); eval keeps it for the fused kernel.
        var additiveMask = training && attentionMask.min().item<long>() != 0 ? null! : AdditiveMask(attentionMask, inputIds.device);
        var x = embeddings.forward(inputIds, tokenTypeIds);
        foreach (var block in blocks)
        {
            x = block.forward(x, additiveMask);
        }

        if (final_norm is not null)
        {
            x = final_norm.forward(x);
        }

        return x.MoveToOuterDisposeScope();
    }

    /// <summary>[batch, seq] 1/0 mask to [batch, 1, 1, seq] additive scores (0 or <see cref="MaskedScore"/>).</summary>
    public static Tensor AdditiveMask(Tensor attentionMask, Device device)
    {
        using var scope = NewDisposeScope();
        var keep = attentionMask.to(ScalarType.Float32, device).unsqueeze(1).unsqueeze(1);
        return ((1.0f - keep) * MaskedScore).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// sentence_embedding from last_hidden_state per the configured pooling and normalisation. "mean-first-last" also
    /// needs <paramref name="embeddingOutput"/> (<c>embeddings.forward(input_ids, token_type_ids)</c>).
    /// </summary>
    public Tensor Pool(Tensor lastHiddenState, Tensor attentionMask, Tensor? embeddingOutput = null)
    {
        using var scope = NewDisposeScope();
        Tensor pooled;
        if (Config.Pooling == TextPooling.Cls)
        {
            pooled = lastHiddenState.select(1, 0);
        }
        else
        {
            var mask = attentionMask.to(lastHiddenState.dtype).unsqueeze(-1);
            var counts = mask.sum(1).clamp_min(1e-9);
            pooled = (lastHiddenState * mask).sum(1) / counts;
            if (Config.Pooling == TextPooling.MeanFirstLast)
            {
                var first = embeddingOutput ?? throw new ArgumentException("Pooling 'mean-first-last' needs the embedding layer's output.", nameof(embeddingOutput));
                pooled = cat([(first * mask).sum(1) / counts, pooled], -1);
            }
        }

        if (Config.NormalizeEmbedding)
        {
            pooled = nn.functional.normalize(pooled, p: 2, dim: -1, eps: 1e-12);
        }

        return pooled.MoveToOuterDisposeScope();
    }

    /// <summary>BERT init: N(0, 0.02) weights and embeddings, zero biases, LayerNorm at (1, 0).</summary>
    public static void InitializeBertStyle(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight, 0, 0.02);
                    if (linear.bias is not null)
                    {
                        nn.init.zeros_(linear.bias);
                    }

                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight, 0, 0.02);
                    break;
                case LayerNorm norm:
                    nn.init.ones_(norm.weight);
                    nn.init.zeros_(norm.bias);
                    break;
            }
        }
    }
}

/// <summary>
/// The encoder with the BERT MLM head: dense -> GELU -> LayerNorm -> decoder tied to the word embedding (+ bias).
/// Returns logits [batch, seq, vocab].
/// </summary>
public sealed class MaskedLanguageModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    public readonly TextEncoder encoder;
    public readonly Linear head_dense;
    public readonly LayerNorm head_norm;
    public readonly Parameter decoder_bias;

    public MaskedLanguageModel(TextEncoderConfig config) : base(nameof(MaskedLanguageModel))
    {
        encoder = new TextEncoder(config);
        head_dense = nn.Linear(config.Hidden, config.Hidden);
        head_norm = nn.LayerNorm([config.Hidden], config.LayerNormEps);
        decoder_bias = nn.Parameter(zeros(config.VocabSize));
        RegisterComponents();
        TextEncoder.InitializeBertStyle(head_dense);
    }

    public TextEncoderConfig Config => encoder.Config;

    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var hidden = encoder.forward(inputIds, attentionMask, tokenTypeIds);
        return Head(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>Logits for the given hidden states (callers may pass only masked positions to save the vocab matmul).</summary>
    public Tensor Head(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var h = head_norm.forward(nn.functional.gelu(head_dense.forward(hidden)));
        // Tied decoder: the word-embedding matrix is the output projection.
        var logits = nn.functional.linear(h, encoder.embeddings.word_embeddings.weight!, decoder_bias);
        return logits.MoveToOuterDisposeScope();
    }
}
