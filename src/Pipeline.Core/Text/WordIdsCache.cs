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

    /// <summary>Caches a word on its second miss (see <see cref="Doorkeeper"/>).</summary>
    private readonly Doorkeeper _doorkeeper = new();

    private readonly Entry?[] _slots = new Entry?[1 << capacityPowerOfTwo];

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
        if (!_doorkeeper.AdmitShared(hash))
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

    private sealed record Entry(string Word, int[] Ids, int Hash);
}
