using Pipeline.Training.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Optim;

public class OptimTests
{
    [Fact]
    public void AdamW_matches_torch_optim_AdamW_step_for_step()
    {
        torch.manual_seed(11);
        using var ours = nn.Linear(6, 3, hasBias: false);
        using var theirs = nn.Linear(6, 3, hasBias: false);
        using (no_grad())
        {
            theirs.weight!.copy_(ours.weight!);
        }

        using var start = ours.weight!.clone();
        using var x = randn(10, 6);
        using var y = randn(10, 3);
        using var adam = new AdamW([("weight", ours.weight!)], new AdamWOptions(0.9, 0.98, 1e-6, 0.05));
        var reference = torch.optim.AdamW(theirs.parameters(), lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-6, weight_decay: 0.05);
        for (var step = 0; step < 8; step++)
        {
            using (var loss = nn.functional.mse_loss(ours.forward(x), y))
            {
                loss.backward();
            }

            adam.Step(0.01);
            adam.ZeroGrad();
            Assert.Null(ours.weight!.grad); // set to none: the next backward hands over its gradient as is
            using (var loss = nn.functional.mse_loss(theirs.forward(x), y))
            {
                loss.backward();
            }

            reference.step();
            reference.zero_grad();
        }

        var diff = (ours.weight! - theirs.weight!).abs().max().item<float>();
        Assert.True(diff < 1e-6f, $"max |ours - torch| = {diff}");
        Assert.True((ours.weight! - start).abs().max().item<float>() > 1e-3f, "the weights should have moved");
    }

    [Fact]
    public void AdamW_with_a_gradient_clip_matches_clip_grad_norm_then_torch_optim_AdamW()
    {
        // Two weight matrices (one global norm over both) and a max norm small enough that every step clips.
        torch.manual_seed(12);
        using var ours1 = nn.Linear(6, 5, hasBias: false);
        using var ours2 = nn.Linear(5, 3, hasBias: false);
        using var theirs1 = nn.Linear(6, 5, hasBias: false);
        using var theirs2 = nn.Linear(5, 3, hasBias: false);
        using (no_grad())
        {
            theirs1.weight!.copy_(ours1.weight!);
            theirs2.weight!.copy_(ours2.weight!);
        }

        using var x = randn(10, 6);
        using var y = randn(10, 3);
        using var adam = new AdamW([("w1", ours1.weight!), ("w2", ours2.weight!)], new AdamWOptions(0.9, 0.98, 1e-6, 0.05));
        var theirs = new[] { theirs1.weight!, theirs2.weight! };
        var reference = torch.optim.AdamW(theirs, lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-6, weight_decay: 0.05);
        for (var step = 0; step < 8; step++)
        {
            using (var loss = nn.functional.mse_loss(ours2.forward(ours1.forward(x)), y))
            {
                loss.backward();
            }

            adam.Step(0.01, maxGradNorm: 0.01);
            adam.ZeroGrad();
            using (var loss = nn.functional.mse_loss(theirs2.forward(theirs1.forward(x)), y))
            {
                loss.backward();
            }

            var norm = nn.utils.clip_grad_norm_(theirs, 0.01);
            Assert.True(norm > 0.01, $"the clip should act (norm {norm})");
            reference.step();
            reference.zero_grad();
        }

        var diff = Math.Max((ours1.weight! - theirs1.weight!).abs().max().item<float>(), (ours2.weight! - theirs2.weight!).abs().max().item<float>());
        Assert.True(diff < 1e-6f, $"max |ours - torch| = {diff}");
    }

    [Fact]
    public void AdamW_decays_matrices_but_not_biases_or_layer_norms()
    {
        using var linear = nn.Linear(4, 4);
        using var adam = new AdamW(linear.named_parameters().Select(p => (p.name, p.parameter)), new AdamWOptions(WeightDecay: 0.5));
        Assert.Equal(["bias"], adam.NoDecay);
        using (no_grad())
        {
            linear.bias!.fill_(1);
        }

        using var weightBefore = linear.weight!.clone();
        linear.weight!.grad = zeros_like(linear.weight);
        linear.bias!.grad = zeros_like(linear.bias);
        adam.Step(0.1);
        // Zero gradient: only decoupled decay moves a parameter, by the factor (1 - lr * wd).
        Assert.True((linear.weight! - (weightBefore * 0.95)).abs().max().item<float>() < 1e-7f);
        Assert.True((linear.bias! - 1).abs().max().item<float>() == 0);
    }

    [Fact]
    public void Schedule_warms_up_linearly_then_decays_to_zero_by_cosine_or_linearly()
    {
        var cosine = new LearningRateSchedule(1e-3, 10, 110);
        Assert.Equal(1e-4, cosine.At(1), 12);
        Assert.Equal(1e-3, cosine.At(10), 12);
        Assert.Equal(5e-4, cosine.At(60), 12);
        Assert.Equal(0, cosine.At(110), 12);
        var linear = cosine with { Decay = "linear" };
        Assert.Equal(7.5e-4, linear.At(35), 12);
        Assert.Throws<ArgumentException>(() => (cosine with { Decay = "step" }).At(50));
    }

    [Fact]
    public void A_budgeted_schedule_decays_by_whichever_runs_out_first_the_steps_or_the_time()
    {
        var linear = new LearningRateSchedule(1e-3, 10, 1010, "linear");
        // Time behind the steps: the steps govern.
        Assert.Equal(linear.At(510), linear.At(510, 0.2), 12);
        // Time ahead of the steps (a busy machine or a step cap set high): the decay follows the clock to zero.
        Assert.Equal(2.5e-4, linear.At(110, 0.75), 12);
        Assert.Equal(0, linear.At(110, 1.0), 12);
        // Warmup stays by steps.
        Assert.Equal(5e-4, linear.At(5, 0.9), 12);
    }
}
