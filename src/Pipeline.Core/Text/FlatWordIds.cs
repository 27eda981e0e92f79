using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Core.Text;

/// <summary>
/// A single-threaded word -> token ids memo in flat arrays, for one <see cref="WordPieceEncoder.Session"/> (bulk
/// encoding on one thread: ingestion's shards). Against the shared <see cref="WordIdsCache"/> (an object per entry, a
/// string and an int[] behind it, volatile reads), a hit here touches one 32-byte slot: the hash tag, the word's
/// length and id count, its first 8 characters inline, and its id when it has one (most frequent words). Longer words
/// keep their characters, and words of several ids their ids, in two append-only arenas. Same admission rule as the
/// shared cache (a word is cached on its second miss), never evicts, bounded: a full probe window or arena simply
/// means "not cached". A cached word's ids are exactly what the tokenizer returned for it.
/// </summary>
internal sealed class FlatWordIds(int capacityPowerOfTwo = 17)
{
    private const int MaxProbes = 8;
    private const int MaxArenaChars = 1 << 21;
    private const int MaxArenaIds = 1 << 20;

    private readonly Slot[] _slots = new Slot[1 << capacityPowerOfTwo];
    private readonly Doorkeeper _doorkeeper = new();
    private char[] _chars = new char[1 << 14];
    private int _charsUsed;
    private int[] _ids = new int[1 << 14];
    private int _idsUsed;

    /// <summary>The cached ids of <paramref name="word"/> (hash from <see cref="WordHash"/>), or false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(ReadOnlySpan<char> word, int hash, out ReadOnlySpan<int> ids)
    {
        var slots = _slots;
        var mask = slots.Length - 1;
        var tag = hash | int.MinValue;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            ref var slot = ref slots[(hash + probe) & mask];
            if (slot.Tag == 0)
            {
                break;
            }

            if (slot.Tag != tag || (slot.Meta & 0xFFFF) != word.Length)
            {
                continue;
            }

            var stored = word.Length <= Slot.InlineChars
                ? ((ReadOnlySpan<char>)slot.Chars)[..word.Length]
                : _chars.AsSpan(slot.CharStart, word.Length);
            if (!word.SequenceEqual(stored))
            {
                continue;
            }

            var count = slot.Meta >>> 16;
            ids = count == 1 ? MemoryMarshal.CreateReadOnlySpan(ref slot.Id, 1) : _ids.AsSpan(slot.Id, count);
            return true;
        }

        ids = default;
        return false;
    }

    /// <summary>Caches the ids of a word missed twice (see the class remarks); otherwise only notes the miss.</summary>
    public void TryAdd(ReadOnlySpan<char> word, int hash, ReadOnlySpan<int> ids)
    {
        if (word.Length > 0xFFFF || ids.Length > 0x7FFF || !_doorkeeper.Admit(hash))
        {
            return;
        }

        var mask = _slots.Length - 1;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            ref var slot = ref _slots[(hash + probe) & mask];
            if (slot.Tag != 0)
            {
                continue;
            }

            var charStart = 0;
            if (word.Length > Slot.InlineChars)
            {
                if (!Reserve(ref _chars, ref _charsUsed, word.Length, MaxArenaChars, out charStart))
                {
                    return;
                }

                word.CopyTo(_chars.AsSpan(charStart));
            }
            else
            {
                word.CopyTo(slot.Chars);
            }

            var id = 0;
            if (ids.Length == 1)
            {
                id = ids[0];
            }
            else
            {
                if (!Reserve(ref _ids, ref _idsUsed, ids.Length, MaxArenaIds, out id))
                {
                    slot.Chars = default;
                    return;
                }

                ids.CopyTo(_ids.AsSpan(id));
            }

            slot.CharStart = charStart;
            slot.Id = id;
            slot.Meta = word.Length | (ids.Length << 16);
            slot.Tag = hash | int.MinValue;
            return;
        }
    }

    private static bool Reserve<T>(ref T[] arena, ref int used, int length, int max, out int start)
    {
        start = used;
        if (used + length > arena.Length)
        {
            if (used + length > max)
            {
                return false;
            }

            Array.Resize(ref arena, Math.Min(max, Math.Max(arena.Length * 2, used + length)));
        }

        used += length;
        return true;
    }

    private struct Slot
    {
        public const int InlineChars = 8;

        /// <summary>The word's hash with the top bit set; 0 = empty.</summary>
        public int Tag;

        /// <summary>Word length (low 16 bits) | id count (high bits).</summary>
        public int Meta;

        /// <summary>The id of a one-id word, else the start of its ids in the id arena.</summary>
        public int Id;

        /// <summary>Start of the characters in the char arena (words over <see cref="InlineChars"/>).</summary>
        public int CharStart;

        public InlineChars8 Chars;
    }

    [InlineArray(Slot.InlineChars)]
    private struct InlineChars8
    {
        private char _c;
    }
}
