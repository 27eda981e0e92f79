namespace Pipeline.Core.Text;

/// <summary>
/// A bounded, lock-free word -> token ids memo for <see cref="WordPieceEncoder"/> (HF tokenizers keeps the same kind of
/// cache in front of WordPiece). Open addressing over a fixed power-of-two table of immutable entries: a reader sees a
/// slot either empty or holding a complete entry, a writer only fills empty slots (compare-exchange), nothing is ever
/// evicted. When a word's probe window is full it is simply not cached, so memory is bounded by the table whatever the
/// corpus, and the first (mostly the most frequent) words stay. A cached word's ids are exactly what the tokenizer
/// returned for it, so the cache never changes an id. Beside the entries, a flat array of their hashes (written after
/// the entry) lets a probe skip other words without touching their entries.
/// </summary>
internal sealed class WordIdsCache(int capacityPowerOfTwo = 17)
{
    private const int MaxProbes = 8;
    private const int DoorkeeperBits = 1 << 20;

    /// <summary>
    /// Admission filter (TinyLFU's "doorkeeper"): a word is cached on its second miss, not its first, so words seen once
    /// (numbers, ids, typos) do not fill the table and lock the frequent words out (nothing is ever evicted). A bit per
    /// hash; cleared when half full, so it keeps tracking recent words.
    /// </summary>
    private readonly int[] _doorkeeper = new int[DoorkeeperBits / 32];
    private int _doorkeeperSet;    private readonly Entry?[] _slots = new Entry?[1 << capacityPowerOfTwo];

    /// <summary>Per slot: the entry's hash with the top bit set once it is published; 0 = empty (or being published).</summary>
    private readonly int[] _tags = new int[1 << capacityPowerOfTwo];

    public bool TryGet(ReadOnlySpan<char> word, out int[] ids) => TryGet(word, WordHash.Of(word), out ids);

    /// <summary>Looks a word up by its <see cref="WordHash"/> (computed by the caller while scanning).</summary>
    public bool TryGet(ReadOnlySpan<char> word, int hash, out int[] ids)
    {
        var mask = _slots.Length - 1;
        var tag = hash | int.MinValue;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            var slot = (hash + probe) & mask;
            var seen = Volatile.Read(ref _tags[slot]);
            if (seen == 0)
            {
                break;
            }

            if (seen != tag)
            {
                continue;
            }

            var entry = Volatile.Read(ref _slots[slot]);
            if (entry is not null && word.SequenceEqual(entry.Word))
            {
                ids = entry.Ids;
                return true;
            }
        }

        ids = [];
        return false;
    }

    public void TryAdd(ReadOnlySpan<char> word, int[] ids) => TryAdd(word, WordHash.Of(word), ids);

    public void TryAdd(ReadOnlySpan<char> word, int hash, int[] ids)
    {
        if (!Admit(hash))
        {
            return;
        }

        var mask = _slots.Length - 1;
        Entry? created = null;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            var index = (hash + probe) & mask;
            ref var slot = ref _slots[index];
            var entry = Volatile.Read(ref slot);
            if (entry is null)
            {
                created ??= new Entry(word.ToString(), ids, hash);
                entry = Interlocked.CompareExchange(ref slot, created, null);
                if (entry is null)
                {
                    Volatile.Write(ref _tags[index], hash | int.MinValue);
                    return;
                }
            }

            if (entry.Hash == hash && word.SequenceEqual(entry.Word))
            {
                return; // another thread cached it
            }
        }
    }

    /// <summary>True when the hash was seen before (since the last clear); marks it seen.</summary>
    private bool Admit(int hash)
    {
        var bit = (hash >> 7) & (DoorkeeperBits - 1); // bits above the ones that pick the slot
        var mask = 1 << (bit & 31);
        var before = Interlocked.Or(ref _doorkeeper[bit >> 5], mask);
        if ((before & mask) != 0)
        {
            return true;
        }

        if (Interlocked.Increment(ref _doorkeeperSet) >= DoorkeeperBits / 2)
        {
            Array.Clear(_doorkeeper);
            Volatile.Write(ref _doorkeeperSet, 0);
        }

        return false;
    }

    private sealed record Entry(string Word, int[] Ids, int Hash);
}
