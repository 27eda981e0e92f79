using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Tests.Native;

public class LibTorchLoadsTests
{
    [Fact]
    public void Linear_layer_forward_and_backward_produce_the_analytic_gradient()
    {
        torch.manual_seed(1);
        using var layer = nn.Linear(3, 1);
        using var x = tensor(new float[] { 1f, 2f, 3f }).reshape(1, 3);
        using var y = layer.forward(x).sum();
        y.backward();
        // d(sum(Wx + b))/dW = x, so the weight gradient must equal the input exactly.
        var grad = layer.weight!.grad!.data<float>().ToArray();
        Assert.Equal(new[] { 1f, 2f, 3f }, grad);
        Assert.Equal(1f, layer.bias!.grad!.item<float>());
    }
}
