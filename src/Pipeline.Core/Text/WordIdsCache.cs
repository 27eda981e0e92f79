namespace Pipeline.Core.Text;

/// <summary>
/// A bounded, lock-free word -> token ids memo for <see cref="WordPieceEncoder"/> (HF tokenizers keeps the same kind of
/// cache in front of WordPiece). Open addressing over a fixed power-of-two table of immutable entries: a reader sees a
/// slot either empty or holding a complete entry, a writer only fills empty slots (compare-exchange), nothing is ever
/// evicted. When a word's probe window is full it is simply not cached, so memory is bounded by the table whatever the
/// corpus, and the first (mostly the most frequent) words stay. A cached word's ids are exactly what the tokenizer
/// returned for it, so the cache never changes an id.
/// </summary>
internal sealed class WordIdsCache(int capacityPowerOfTwo = 17)
{
    private const int MaxProbes = 8;
    private readonly Entry?[] _slots = new Entry?[1 << capacityPowerOfTwo];

    public bool TryGet(ReadOnlySpan<char> word, out int[] ids)
    {
        var hash = Hash(word);
        var mask = _slots.Length - 1;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            var entry = Volatile.Read(ref _slots[(hash + probe) & mask]);
            if (entry is null)
            {
                break;
            }

            if (entry.Hash == hash && word.SequenceEqual(entry.Word))
            {
                ids = entry.Ids;
                return true;
            }
        }

        ids = [];
        return false;
    }

    public void TryAdd(ReadOnlySpan<char> word, int[] ids)
    {
        var hash = Hash(word);
        var mask = _slots.Length - 1;
        Entry? created = null;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            ref var slot = ref _slots[(hash + probe) & mask];
            var entry = Volatile.Read(ref slot);
            if (entry is null)
            {
                created ??= new Entry(word.ToString(), ids, hash);
                entry = Interlocked.CompareExchange(ref slot, created, null);
                if (entry is null)
                {
                    return;
                }
            }

            if (entry.Hash == hash && word.SequenceEqual(entry.Word))
            {
                return; // another thread cached it
            }
        }
    }

    /// <summary>FNV-1a over the UTF-16 code units, finished with a multiply-shift mix (words are short).</summary>
    private static int Hash(ReadOnlySpan<char> word)
    {
        var h = 2166136261u;
        foreach (var c in word)
        {
            h = (h ^ c) * 16777619u;
        }

        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        return (int)(h & 0x7FFFFFFF);
    }

    private sealed record Entry(string Word, int[] Ids, int Hash);
}
