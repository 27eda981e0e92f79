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
            // The same draws, 16 elements at a time: SplitMix64 word k is mix(seed + k * gamma), so four consecutive
            // words are mixed side by side in the four 64-bit lanes (64-bit multiplies built from 32-bit ones, as AVX2
            // has no 64-bit lane multiply); the four words are sixteen 16-bit draws in element order (little endian).
            // Unsigned draw >= threshold is a signed compare after flipping the sign bits.
            var flip = Vector256.Create(short.MinValue);
            var limit = Vector256.Create(unchecked((short)(threshold ^ 0x8000)));
            var keepVector = Vector256.Create(keep);
            var lanes = unchecked(Vector256.Create(state + Gamma, state + (2 * Gamma), state + (3 * Gamma), state + (4 * Gamma)));
            var step = Vector256.Create(unchecked(4 * Gamma));
            var words = 0UL;
            for (; i + 16 <= mask.Length; i += 16, words += 4)
            {
                var z = lanes;
                lanes += step;
                z = Multiply(z ^ Avx2.ShiftRightLogical(z, 30), Mix1);
                z = Multiply(z ^ Avx2.ShiftRightLogical(z, 27), Mix2);
                z ^= Avx2.ShiftRightLogical(z, 31);
                var dropped = Avx2.CompareGreaterThan(limit, Avx2.Xor(z.AsInt16(), flip));
                var low = Avx2.ConvertToVector256Int32(dropped.GetLower()).AsSingle();
                var high = Avx2.ConvertToVector256Int32(dropped.GetUpper()).AsSingle();
                Avx.AndNot(low, keepVector).StoreUnsafe(ref mask[i]);
                Avx.AndNot(high, keepVector).StoreUnsafe(ref mask[i + 8]);
            }

            state = unchecked(state + (words * Gamma));
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

    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private const ulong Mix1 = 0xBF58476D1CE4E5B9UL;
    private const ulong Mix2 = 0x94D049BB133111EBUL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Next(ref ulong state)
    {
        var z = state += Gamma;
        z = (z ^ (z >> 30)) * Mix1;
        z = (z ^ (z >> 27)) * Mix2;
        return z ^ (z >> 31);
    }

    /// <summary>a * c mod 2^64 per 64-bit lane: lo(a)lo(c) + ((hi(a)lo(c) + lo(a)hi(c)) &lt;&lt; 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Multiply(Vector256<ulong> a, ulong c)
    {
        var cLow = Vector256.Create(c & 0xFFFFFFFFUL).AsUInt32();
        var cHigh = Vector256.Create(c >> 32).AsUInt32();
        var cross = Avx2.Multiply(Avx2.ShiftRightLogical(a, 32).AsUInt32(), cLow) + Avx2.Multiply(a.AsUInt32(), cHigh);
        return Avx2.Multiply(a.AsUInt32(), cLow) + Avx2.ShiftLeftLogical(cross, 32);
    }
}
