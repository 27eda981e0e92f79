namespace Pipeline.Core.Text;

/// <summary>
/// Word -> count for the vocabulary trainer, built for the hot loop: open addressing over a power-of-two array of
/// (hash, entry) longs, entries in one flat array, the words' characters in one char arena. A lookup touches the slot
/// array (the hash filters other words), then the entry and its characters; nothing is allocated per word, and the
/// whole table is a few flat arrays the GC never has to walk.
/// </summary>
internal sealed class WordCountTable
{
    private long[] _slots = new long[1 << 12]; // (hash << 32) | (entry + 1); 0 = empty
    private Entry[] _entries = new Entry[1 << 11];
    private char[] _chars = new char[1 << 15];
    private int _charsUsed;

    /// <summary>
    /// A direct-mapped front of (hash, entry + 1) pairs, 32 KB, checked before the slot array: the frequent words
    /// (most occurrences) are found there without touching the multi-MB slot array. Cleared whenever entries move.
    /// </summary>
    private readonly long[] _front = new long[1 << FrontBits];
    private const int FrontBits = 12;

    public int Count { get; private set; }

    /// <summary>The count of <paramref name="word"/> (hash from <see cref="WordHash"/>), added at 0 when new.</summary>
    public ref long GetOrAdd(ReadOnlySpan<char> word, int hash)
    {
        ref var front = ref _front[hash & ((1 << FrontBits) - 1)];
        if ((int)(front >>> 32) == hash && front != 0)
        {
            ref var hot = ref _entries[(int)(uint)front - 1];
            if (hot.Length == word.Length && word.SequenceEqual(_chars.AsSpan(hot.Start, hot.Length)))
            {
                return ref hot.Count;
            }
        }

        ref var count = ref Find(word, hash, out var e);
        front = ((long)hash << 32) | (uint)(e + 1);
        return ref count;
    }

    private ref long Find(ReadOnlySpan<char> word, int hash, out int e)
    {
        var mask = _slots.Length - 1;
        var i = hash & mask;
        while (true)
        {
            var slot = _slots[i];
            if (slot == 0)
            {
                break;
            }

            if ((int)(slot >>> 32) == hash)
            {
                e = (int)(uint)slot - 1;
                ref var entry = ref _entries[e];
                if (entry.Length == word.Length && word.SequenceEqual(_chars.AsSpan(entry.Start, entry.Length)))
                {
                    return ref entry.Count;
                }
            }

            i = (i + 1) & mask;
        }

        if ((Count + 1) * 2L > _slots.Length)
        {
            Rehash(_slots.Length * 2);
            return ref Find(word, hash, out e);
        }

        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        if (_charsUsed + word.Length > _chars.Length)
        {
            Array.Resize(ref _chars, Math.Max(_chars.Length * 2, _charsUsed + word.Length));
        }

        word.CopyTo(_chars.AsSpan(_charsUsed));
        _entries[Count] = new Entry { Start = _charsUsed, Length = word.Length, Hash = hash };
        _charsUsed += word.Length;
        _slots[i] = ((long)hash << 32) | (uint)(Count + 1);
        e = Count;
        return ref _entries[Count++].Count;
    }

    /// <summary>
    /// Drops every word counted fewer than <paramref name="floor"/> times; returns their occurrences. In place: kept
    /// entries and their characters only move towards the front, so pruning (often, on corpora with many one-off words)
    /// allocates nothing and leaves no large garbage behind.
    /// </summary>
    public long RemoveBelow(long floor)
    {
        long removed = 0;
        var kept = 0;
        var used = 0;
        for (var e = 0; e < Count; e++)
        {
            var entry = _entries[e];
            if (entry.Count < floor)
            {
                removed += entry.Count;
                continue;
            }

            _chars.AsSpan(entry.Start, entry.Length).CopyTo(_chars.AsSpan(used)); // memmove: used <= entry.Start
            entry.Start = used;
            used += entry.Length;
            _entries[kept++] = entry;
        }

        _charsUsed = used;
        Count = kept;
        Array.Clear(_front); // entries moved
        Rehash(_slots.Length);
        return removed;
    }

    /// <summary>The word of entry <paramref name="e"/> (0 &lt;= e &lt; Count), in the table's arena.</summary>
    public ReadOnlySpan<char> WordAt(int e) => _chars.AsSpan(_entries[e].Start, _entries[e].Length);

    public long CountAt(int e) => _entries[e].Count;

    /// <summary>Every (word, count), in insertion order.</summary>
    public IEnumerable<KeyValuePair<string, long>> Items()
    {
        for (var e = 0; e < Count; e++)
        {
            var entry = _entries[e];
            yield return new(new string(_chars, entry.Start, entry.Length), entry.Count);
        }
    }

    private void Rehash(int size)
    {
        if (size == _slots.Length)
        {
            Array.Clear(_slots);
        }
        else
        {
            _slots = new long[size];
        }

        var mask = size - 1;
        for (var e = 0; e < Count; e++)
        {
            var hash = _entries[e].Hash;
            var i = hash & mask;
            while (_slots[i] != 0)
            {
                i = (i + 1) & mask;
            }

            _slots[i] = ((long)hash << 32) | (uint)(e + 1);
        }
    }

    private struct Entry
    {
        public int Start;
        public int Length;
        public int Hash;
        public long Count;
    }
}
