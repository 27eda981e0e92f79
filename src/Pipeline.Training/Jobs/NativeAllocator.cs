using System.Runtime.InteropServices;

namespace Pipeline.Training.Jobs;

/// <summary>
/// Keeps glibc's malloc (which libtorch's CPU allocator sits on) from handing freed tensor memory back to the kernel
/// between training steps. By default glibc serves large blocks with mmap and trims the heap top as soon as it is
/// free, so every step's activations and gradients land on fresh pages that the kernel must fault in and zero:
/// measured on the MLM step (d128, batch 32 x 64) that was ~2,000 page faults and ~10% of a step's CPU time.
/// Blocks up to 32 MB (glibc's maximum threshold) now come from the heap, and the heap is not trimmed, so a training
/// process keeps its peak working set, which it reuses every step. Only on Linux/glibc; a no-op elsewhere.
/// </summary>
public static partial class NativeAllocator
{
    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;
    private static readonly Lazy<bool> Configured = new(Configure);

    /// <summary>Applies the settings (once per process); returns whether glibc accepted them.</summary>
    public static bool ConfigureForTraining() => Configured.Value;

    private static bool Configure()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return mallopt(MMmapThreshold, 32 << 20) == 1 & mallopt(MTrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (musl): nothing to configure
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
