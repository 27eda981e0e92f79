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

    public void Step(double learningRate)
    {
        StepCount++;
        var (b1, b2, eps, wd) = (_options.Beta1, _options.Beta2, _options.Epsilon, _options.WeightDecay);
        var bc1 = 1 - Math.Pow(b1, StepCount);
        var bc2Sqrt = Math.Sqrt(1 - Math.Pow(b2, StepCount));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var (_, p, decay, m, v) in _params)
        {
            var g = p.grad;
            if (g is null)
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

    public void ZeroGrad()
    {
        foreach (var (_, p, _, _, _) in _params)
        {
            p.grad?.zero_();
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
