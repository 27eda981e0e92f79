using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Jobs;

/// <summary>Picks the libtorch device and thread count from a job spec.</summary>
public static class TrainingDevice
{
    /// <summary>"auto": CUDA when libtorch sees a GPU, else CPU; "cpu"; "cuda" (fails clearly without a GPU).</summary>
    public static Device Select(string requested)
    {
        var cuda = torch.cuda.is_available();
        return requested.ToLowerInvariant() switch
        {
            "auto" => cuda ? torch.CUDA : torch.CPU,
            "cpu" => torch.CPU,
            "cuda" => cuda ? torch.CUDA : throw new InvalidOperationException("The spec asks for Device 'cuda' but libtorch sees no GPU; use 'auto' or 'cpu', or run the CUDA trainer image."),
            _ => throw new ArgumentException($"Device '{requested}' is not supported; use 'auto', 'cpu' or 'cuda'."),
        };
    }

    /// <summary>Sets libtorch's intra-op threads when the spec names a count (0 keeps libtorch's default).</summary>
    public static void ApplyThreads(int threads)
    {
        if (threads > 0)
        {
            torch.set_num_threads(threads);
        }
    }
}
