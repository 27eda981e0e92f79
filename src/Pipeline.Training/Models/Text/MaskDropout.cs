using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Pipeline.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Models.Text;

/// <summary>
/// Inverted dropout (zero with probability p, scale the rest by 1/(1-p)), as nn.Dropout computes it, but with the
/// keep-mask drawn on the .NET side: libtorch's CPU bernoulli/uniform kernels draw one element at a time and cost
/// 3-7 ns per element here, which made dropout (and scaled_dot_product_attention with dropout, which falls back to
/// its slow composite path) a third of the MLM step. Each call takes one 64-bit seed from torch's global generator,
/// so the masks are as reproducible as torch's own (the checkpointed RNG state fixes them) and a resumed job replays
/// them exactly. The probability is quantised to 1/65536. Off the CPU it is plain nn.functional.dropout.
/// </summary>
public static class MaskDropout
{
    /// <summary>residual + dropout(x) in one op (addcmul with the mask): the residual connections' form.</summary>
    public static Tensor AddTo(Tensor residual, Tensor x, double p, bool training)
    {
        if (!training || p <= 0 || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            return residual + Apply(x, p, training);
        }

        using var mask = Mask(x, p);
        return residual.addcmul(x, mask, 1);
    }

    public static Tensor Apply(Tensor x, double p, bool training)
    {
        if (!training || p <= 0)
        {
            return x;
        }

        if (x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32)
        {
            return nn.functional.dropout(x, p, true);
        }

        using var mask = Mask(x, p);
        return x.mul(mask);
    }

    /// <summary>A float mask shaped like <paramref name="x"/>: 0 where dropped, 1/(1-p) where kept.</summary>
    private static Tensor Mask(Tensor x, double p)
    {
        ulong seed;
        using (var drawn = randint(long.MinValue, long.MaxValue, [1], ScalarType.Int64))
        {
            seed = unchecked((ulong)drawn.item<long>());
        }

        // Written straight into the tensor's own (contiguous) memory: no managed buffer and no copy.
        var mask = empty(x.shape, ScalarType.Float32);
        Fill(TensorMemory.Floats(mask), seed, p);
        return mask;
    }

    /// <summary>Writes 0 (dropped) or 1/(1-p) (kept) per element from a SplitMix64 stream, four 16-bit draws per word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot every step: optimised code from the first call, no tier-0 phase
    internal static void Fill(Span<float> mask, ulong seed, double p)
    {
        var threshold = (uint)Math.Round(p * 65536.0);
        var keep = (float)(1.0 / (1.0 - p));
        var state = seed;
        var i = 0;
        if (Avx2.IsSupported && threshold <= ushort.MaxValue)
        {
            // The same draws, 16 elements at a time: four words are sixteen 16-bit draws in element order (little
            // endian); unsigned draw >= threshold as a signed compare after flipping the sign bits.
            var flip = Vector256.Create(short.MinValue);
            var limit = Vector256.Create(unchecked((short)(threshold ^ 0x8000)));
            var keepVector = Vector256.Create(keep);
            for (; i + 16 <= mask.Length; i += 16)
            {
                var draws = Vector256.Create(Next(ref state), Next(ref state), Next(ref state), Next(ref state)).AsInt16();
                var dropped = Avx2.CompareGreaterThan(limit, Avx2.Xor(draws, flip));
                var low = Avx2.ConvertToVector256Int32(dropped.GetLower()).AsSingle();
                var high = Avx2.ConvertToVector256Int32(dropped.GetUpper()).AsSingle();
                Avx.AndNot(low, keepVector).StoreUnsafe(ref mask[i]);
                Avx.AndNot(high, keepVector).StoreUnsafe(ref mask[i + 8]);
            }
        }

        for (; i + 4 <= mask.Length; i += 4)
        {
            var r = Next(ref state);
            mask[i] = (uint)(r & 0xFFFF) >= threshold ? keep : 0f;
            mask[i + 1] = (uint)((r >> 16) & 0xFFFF) >= threshold ? keep : 0f;
            mask[i + 2] = (uint)((r >> 32) & 0xFFFF) >= threshold ? keep : 0f;
            mask[i + 3] = (uint)(r >> 48) >= threshold ? keep : 0f;
        }

        if (i < mask.Length)
        {
            var r = Next(ref state);
            for (; i < mask.Length; i++, r >>= 16)
            {
                mask[i] = (uint)(r & 0xFFFF) >= threshold ? keep : 0f;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
