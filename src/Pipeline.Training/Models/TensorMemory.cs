using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Pipeline.Training.Models;

/// <summary>
/// A contiguous CPU float32 tensor's own memory as a span, for the vectorised C# loops on the training step's hot path
/// (MaskDropout's mask fill, AdamW's fused update). TorchSharp has no public span over a tensor's storage (its
/// accessors copy or index element by element), so this reads the data pointer from LibTorchSharp, as TorchSharp
/// itself does. The caller keeps the tensor alive and contiguous while it uses the span.
/// </summary>
internal static class TensorMemory
{
    public static unsafe Span<float> Floats(Tensor contiguous) =>
        new((void*)THSTensor_data(contiguous.Handle), checked((int)contiguous.numel()));

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);
}
