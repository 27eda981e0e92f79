using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Training.Images;

// The image encoders, readable top to bottom. Each maps pixel_values [B, C, H, W] to an embedding [B, D] by global
// average pooling of its last feature map. ImageEncoderOnnxExporter mirrors these modules; change both together.

/// <summary>An image encoder: pixel_values [B, C, H, W] -> embedding [B, EmbeddingDim].</summary>
public abstract class ImageEncoder(string name) : nn.Module<Tensor, Tensor>(name)
{
    public static ImageEncoder Create(ImageEncoderConfig config)
    {
        config.Validate();
        return config.Architecture == ImageEncoderConfig.Architectures.ResNet18 ? new ResNet18(config) : new SmallCnn(config);
    }

    /// <summary>
    /// The same [B, C, H, W] tensor stored channels-last (NHWC strides). TorchSharp has no memory_format argument, but
    /// libtorch reads the layout from the strides, and the operators that follow keep it. Autograd sees a permute and a
    /// copy, so gradients are unchanged.
    /// </summary>
    public static Tensor ChannelsLast(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
}

/// <summary>3x3 convolution (no bias) -> BatchNorm -> optional ReLU: the unit both encoders are built from.</summary>
public sealed class ConvBn : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv;
    public readonly BatchNorm2d bn;
    public readonly bool Relu;

    public ConvBn(long input, long output, long kernel, long stride, double eps, bool relu = true) : base(nameof(ConvBn))
    {
        conv = nn.Conv2d(input, output, kernel, stride: stride, padding: kernel / 2, bias: false);
        bn = nn.BatchNorm2d(output, eps: eps);
        Relu = relu;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = bn.forward(conv.forward(x));
        return Relu ? nn.functional.relu(y) : y;
    }
}

/// <summary>The small CNN: [conv-BN-maxpool2-ReLU] per entry of ConvChannels, then global average pooling.</summary>
public sealed class SmallCnn : ImageEncoder
{
    public readonly ModuleList<ConvBn> blocks = new();

    public SmallCnn(ImageEncoderConfig config) : base(nameof(SmallCnn))
    {
        long input = config.Channels;
        foreach (var output in config.ConvChannels)
        {
            blocks.Add(new ConvBn(input, output, 3, 1, config.BatchNormEps));
            input = output;
        }

        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            var y = block.conv.forward(x);
            if (i == 0)
            {
                // From here on the maps are channels-last: libtorch's CPU BatchNorm and max-pool kernels are
                // vectorised over channels only in that layout (the NCHW max-pool with indices costs 10x more), and the
                // next convolution then runs oneDNN's NHWC kernel without reordering. Same values, another memory order.
                y = ImageEncoder.ChannelsLast(y);
            }

            // relu(maxpool(y)) == maxpool(relu(y)) (ReLU is monotone), and ReLU on the pooled map is 4x less work.
            x = nn.functional.relu(nn.functional.max_pool2d(block.bn.forward(y), 2, 2));
        }

        return x.mean([2, 3]).MoveToOuterDisposeScope();
    }
}

/// <summary>ResNet basic block: two 3x3 ConvBn with an identity (or 1x1 ConvBn when the shape changes) shortcut.</summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    public readonly ConvBn conv1;
    public readonly ConvBn conv2;
    public readonly ConvBn? shortcut;

    public BasicBlock(long input, long output, long stride, double eps) : base(nameof(BasicBlock))
    {
        conv1 = new ConvBn(input, output, 3, stride, eps);
        conv2 = new ConvBn(output, output, 3, 1, eps, relu: false);
        shortcut = stride != 1 || input != output ? new ConvBn(input, output, 1, stride, eps, relu: false) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var residual = shortcut is null ? x : shortcut.forward(x);
        return nn.functional.relu(conv2.forward(conv1.forward(x)) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>CIFAR-style ResNet-18: 3x3 stem without max-pool, four stages of two basic blocks, global average pooling.</summary>
public sealed class ResNet18 : ImageEncoder
{
    public readonly ConvBn stem;
    public readonly ModuleList<BasicBlock> blocks = new();

    public ResNet18(ImageEncoderConfig config) : base(nameof(ResNet18))
    {
        var widths = config.ResNetWidths;
        stem = new ConvBn(config.Channels, widths[0], 3, 1, config.BatchNormEps);
        long input = widths[0];
        for (var stage = 0; stage < 4; stage++)
        {
            blocks.Add(new BasicBlock(input, widths[stage], stage == 0 ? 1 : 2, config.BatchNormEps));
            blocks.Add(new BasicBlock(widths[stage], widths[stage], 1, config.BatchNormEps));
            input = widths[stage];
        }

        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = ChannelsLast(stem.forward(x)); // see SmallCnn: channels-last maps run libtorch's vectorised CPU kernels
        foreach (var block in blocks)
        {
            x = block.forward(x);
        }

        return x.mean([2, 3]).MoveToOuterDisposeScope();
    }
}

/// <summary>SimCLR's projection head g(h): Linear -> ReLU -> Linear. Used by the loss only; never exported.</summary>
public sealed class ProjectionHead : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1;
    public readonly Linear fc2;

    public ProjectionHead(long input, long hidden, long output) : base(nameof(ProjectionHead))
    {
        fc1 = nn.Linear(input, hidden);
        fc2 = nn.Linear(hidden, output);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc2.forward(nn.functional.relu(fc1.forward(x)));
}
