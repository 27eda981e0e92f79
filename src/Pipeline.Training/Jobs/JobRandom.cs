namespace Pipeline.Training.Jobs;

/// <summary>
/// A seeded random number generator whose whole state is one <see cref="ulong"/>, so a checkpoint can save it and a
/// resumed job draws exactly the numbers the uninterrupted job would have drawn (System.Random cannot be saved).
/// SplitMix64: fast, statistically fine for masking and shuffling, not for cryptography.
/// </summary>
public sealed class JobRandom
{
    public JobRandom(ulong state) => State = state;

    /// <summary>The whole generator state; assign a saved value to continue where it stopped.</summary>
    public ulong State { get; set; }

    /// <summary>An independent stream per purpose ("masking", "shuffle/3", ...) derived from the job seed.</summary>
    public static JobRandom Create(long seed, string stream)
    {
        ulong h = 14695981039346656037UL;
        foreach (var c in stream)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        var r = new JobRandom(unchecked((ulong)seed) ^ h);
        r.NextUInt64();
        return r;
    }

    public ulong NextUInt64()
    {
        unchecked
        {
            State += 0x9E3779B97F4A7C15UL;
            var z = State;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, maxExclusive).</summary>
    public int Next(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        return (int)((NextUInt64() >> 32) * (ulong)maxExclusive >> 32);
    }

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle<T>(T[] items)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
