namespace Pipeline.Core.Text;

/// <summary>
/// The word memos' admission filter (TinyLFU's "doorkeeper"): a word is cached on its second miss, not its first, so
/// words seen once (numbers, ids, typos) do not fill a memo and lock the frequent words out (nothing is ever evicted).
/// A bit per hash, taken from the bits above the ones that pick a memo slot; cleared when half full, so it keeps
/// tracking recent words. <see cref="Admit"/> is for one thread (<see cref="FlatWordIds"/>), <see cref="AdmitShared"/>
/// for a memo shared across threads (<see cref="WordIdsCache"/>).
/// </summary>
internal sealed class Doorkeeper
{
    private const int Bits = 1 << 20;
    private readonly int[] _bits = new int[Bits / 32];
    private int _set;

    /// <summary>True when the hash was seen before (since the last clear); marks it seen. Single-threaded.</summary>
    public bool Admit(int hash)
    {
        var (index, mask) = Locate(hash);
        ref var word = ref _bits[index];
        if ((word & mask) != 0)
        {
            return true;
        }

        word |= mask;
        if (++_set >= Bits / 2)
        {
            Array.Clear(_bits);
            _set = 0;
        }

        return false;
    }

    /// <summary><see cref="Admit"/> for concurrent callers (interlocked bit and counter updates).</summary>
    public bool AdmitShared(int hash)
    {
        var (index, mask) = Locate(hash);
        var before = Interlocked.Or(ref _bits[index], mask);
        if ((before & mask) != 0)
        {
            return true;
        }

        if (Interlocked.Increment(ref _set) >= Bits / 2)
        {
            Array.Clear(_bits);
            Volatile.Write(ref _set, 0);
        }

        return false;
    }

    private static (int Index, int Mask) Locate(int hash)
    {
        var bit = (hash >> 7) & (Bits - 1); // bits above the ones that pick the slot
        return (bit >> 5, 1 << (bit & 31));
    }
}
