using System.Numerics;
using System.Runtime.CompilerServices;
using Pipeline.Training.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Training.Optim;

/// <summary>AdamW hyperparameters (PyTorch's defaults except the learning rate, which the schedule sets per step).</summary>
public sealed record AdamWOptions(double Beta1 = 0.9, double Beta2 = 0.999, double Epsilon = 1e-8, double WeightDecay = 0.01);

/// <summary>
/// AdamW (Loshchilov and Hutter) written out, as torch.optim.AdamW computes it: decoupled weight decay, bias-corrected
/// moments. Written here rather than taken from TorchSharp so the state (moments, step) is ours to checkpoint exactly
/// and the weight-decay exclusion is explicit: parameters with fewer than 2 dimensions (biases, LayerNorm) are not decayed.
/// On the CPU (float32, contiguous) the gradient-norm clip and the whole update run as one vectorised pass per
/// parameter over its memory, instead of ~9 libtorch ops per parameter plus clip_grad_norm_'s per-parameter norms
/// and scaling; elsewhere it runs the same formulas as tensor ops.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly (string Name, Parameter Param, bool Decay, Tensor M, Tensor V)[] _params;
    private readonly AdamWOptions _options;

    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, AdamWOptions options)
    {
        _options = options;
        _params = parameters
            .Select(p => (p.Name, p.Param, p.Param.dim() >= 2, zeros_like(p.Param).DetachFromDisposeScope(), zeros_like(p.Param).DetachFromDisposeScope()))
            .ToArray();
    }

    /// <summary>Optimizer steps taken (drives bias correction).</summary>
    public long StepCount { get; private set; }

    public IEnumerable<Parameter> Parameters => _params.Select(p => p.Param);

    /// <summary>Names of parameters excluded from weight decay.</summary>
    public IEnumerable<string> NoDecay => _params.Where(p => !p.Decay).Select(p => p.Name);

    /// <summary>
    /// One AdamW step at <paramref name="learningRate"/>. With <paramref name="maxGradNorm"/> &gt; 0 the gradients are
    /// first scaled as nn.utils.clip_grad_norm_ does (by max / (global L2 norm + 1e-6) when that is below 1); on the
    /// fused path the scaled gradient is used, not written back (<see cref="ZeroGrad"/> drops it next).
    /// </summary>
    public void Step(double learningRate, double maxGradNorm = 0)
    {
        StepCount++;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var grads = _params.Select(p => p.Param.grad).ToArray();
        if (grads.All(g => g is null))
        {
            return;
        }

        var fused = true;
        for (var i = 0; i < _params.Length && fused; i++)
        {
            var (_, p, _, m, v) = _params[i];
            fused = grads[i] is not { } g || (Fusable(g) && Fusable(p) && Fusable(m) && Fusable(v));
        }

        if (fused)
        {
            StepFused(grads, learningRate, maxGradNorm);
        }
        else
        {
            if (maxGradNorm > 0)
            {
                nn.utils.clip_grad_norm_(_params.Where((_, i) => grads[i] is not null).Select(p => p.Param), maxGradNorm);
            }

            StepTensors(grads, learningRate);
        }
    }

    private void StepTensors(Tensor?[] grads, double learningRate)
    {
        var (b1, b2, eps, wd) = (_options.Beta1, _options.Beta2, _options.Epsilon, _options.WeightDecay);
        var bc1 = 1 - Math.Pow(b1, StepCount);
        var bc2Sqrt = Math.Sqrt(1 - Math.Pow(b2, StepCount));
        for (var i = 0; i < _params.Length; i++)
        {
            var (_, p, decay, m, v) = _params[i];
            if (grads[i] is not { } g)
            {
                continue;
            }

            if (decay && wd != 0)
            {
                p.mul_(1 - (learningRate * wd));
            }

            m.mul_(b1).add_(g, alpha: 1 - b1);
            v.mul_(b2).addcmul_(g, g, value: 1 - b2);
            var denom = v.sqrt().div_(bc2Sqrt).add_(eps);
            p.addcdiv_(m, denom, value: -learningRate / bc1);
        }
    }

    private void StepFused(Tensor?[] grads, double learningRate, double maxGradNorm)
    {
        var (b1, b2, eps, wd) = (_options.Beta1, _options.Beta2, _options.Epsilon, _options.WeightDecay);
        var clip = 1f;
        if (maxGradNorm > 0)
        {
            double squares = 0;
            foreach (var g in grads)
            {
                if (g is not null)
                {
                    squares += SumOfSquares(TensorMemory.Floats(g));
                }
            }

            var coefficient = maxGradNorm / (Math.Sqrt(squares) + 1e-6);
            if (coefficient < 1)
            {
                clip = (float)coefficient;
            }
        }

        var update = new Update
        {
            Clip = clip,
            Beta1 = (float)b1,
            OneMinusBeta1 = (float)(1 - b1),
            Beta2 = (float)b2,
            OneMinusBeta2 = (float)(1 - b2),
            InverseBc2Sqrt = (float)(1 / Math.Sqrt(1 - Math.Pow(b2, StepCount))),
            Epsilon = (float)eps,
            StepSize = (float)(-learningRate / (1 - Math.Pow(b1, StepCount))),
        };
        for (var i = 0; i < _params.Length; i++)
        {
            var (_, p, decay, m, v) = _params[i];
            if (grads[i] is { } g)
            {
                Apply(TensorMemory.Floats(p), TensorMemory.Floats(g), TensorMemory.Floats(m), TensorMemory.Floats(v), update with { Decay = decay && wd != 0 ? (float)(1 - (learningRate * wd)) : 1f });
            }
        }
    }

    private readonly record struct Update(float Clip, float Decay, float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2, float InverseBc2Sqrt, float Epsilon, float StepSize);

    /// <summary>p = p*decay; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; p += step * m / (sqrt(v)/bc2 + eps), with g = clip * grad.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot every step: optimised code from the first call, no tier-0 phase
    private static void Apply(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Update u)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var w = Vector<float>.Count;
            var (clip, decay, b1, a1, b2, a2, inv, eps, step) = (new Vector<float>(u.Clip), new Vector<float>(u.Decay), new Vector<float>(u.Beta1),
                new Vector<float>(u.OneMinusBeta1), new Vector<float>(u.Beta2), new Vector<float>(u.OneMinusBeta2), new Vector<float>(u.InverseBc2Sqrt),
                new Vector<float>(u.Epsilon), new Vector<float>(u.StepSize));
            for (; i + w <= p.Length; i += w)
            {
                var gi = new Vector<float>(g[i..]) * clip;
                var mi = (new Vector<float>(m[i..]) * b1) + (gi * a1);
                var vi = (new Vector<float>(v[i..]) * b2) + (gi * gi * a2);
                var pi = new Vector<float>(p[i..]) * decay;
                pi += step * mi / ((Vector.SquareRoot(vi) * inv) + eps);
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                pi.CopyTo(p[i..]);
            }
        }

        for (; i < p.Length; i++)
        {
            var gi = g[i] * u.Clip;
            var mi = (m[i] * u.Beta1) + (gi * u.OneMinusBeta1);
            var vi = (v[i] * u.Beta2) + (gi * gi * u.OneMinusBeta2);
            m[i] = mi;
            v[i] = vi;
            p[i] = (p[i] * u.Decay) + (u.StepSize * mi / ((MathF.Sqrt(vi) * u.InverseBc2Sqrt) + u.Epsilon));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot every step: optimised code from the first call, no tier-0 phase
    private static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double total = 0;
        const int Block = 4096; // float lanes per block, summed into double between blocks
        for (var start = 0; start < x.Length; start += Block)
        {
            var block = x.Slice(start, Math.Min(Block, x.Length - start));
            var i = 0;
            var acc = Vector<float>.Zero;
            if (Vector.IsHardwareAccelerated)
            {
                for (; i + Vector<float>.Count <= block.Length; i += Vector<float>.Count)
                {
                    var xi = new Vector<float>(block[i..]);
                    acc += xi * xi;
                }
            }

            double partial = Vector.Sum(acc);
            for (; i < block.Length; i++)
            {
                partial += (double)block[i] * block[i];
            }

            total += partial;
        }

        return total;
    }

    private static bool Fusable(Tensor t) => t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous() && t.numel() <= int.MaxValue;

    /// <summary>
    /// Drops the gradients (PyTorch's zero_grad(set_to_none=True)): the next backward then hands each parameter its
    /// freshly computed gradient instead of adding it into a zeroed one, which saves a zeroing pass and an add pass
    /// over every gradient per step. The gradients are the same values either way.
    /// </summary>
    public void ZeroGrad()
    {
        foreach (var (_, p, _, _, _) in _params)
        {
            if (p.grad is { } g)
            {
                p.grad = null;
                g.Dispose();
            }
        }
    }

    /// <summary>Moments by parameter name ("m/{name}", "v/{name}") and the step count, for a checkpoint.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> State()
    {
        yield return ("step", tensor(StepCount));
        foreach (var (name, _, _, m, v) in _params)
        {
            yield return ($"m/{name}", m);
            yield return ($"v/{name}", v);
        }
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = no_grad();
        StepCount = state["step"].item<long>();
        foreach (var (name, _, _, m, v) in _params)
        {
            m.copy_(state[$"m/{name}"]);
            v.copy_(state[$"v/{name}"]);
        }
    }

    public void Dispose()
    {
        foreach (var (_, _, _, m, v) in _params)
        {
            m.Dispose();
            v.Dispose();
        }
    }
}
