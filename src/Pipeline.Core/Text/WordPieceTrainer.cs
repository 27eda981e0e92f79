using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Core.Text;

/// <summary>Options of the WordPiece vocabulary trainer (HF BertWordPieceTokenizer.train defaults).</summary>
public sealed record WordPieceTrainerOptions
{
    public int VocabSize { get; init; } = 30_000;

    /// <summary>A merge is made only while its pair occurs at least this often.</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>At most this many distinct characters are kept (the most frequent); the others encode as [UNK].</summary>
    public int LimitAlphabet { get; init; } = 1_000;

    public void Validate()
    {
        if (VocabSize < SpecialTokens.All.Count + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(VocabSize), VocabSize, $"VocabSize must exceed the {SpecialTokens.All.Count} special tokens.");
        }

        if (MinFrequency < 1 || LimitAlphabet < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MinFrequency), "MinFrequency and LimitAlphabet must be >= 1.");
        }
    }
}

/// <summary>
/// Trains a BERT WordPiece vocabulary with HF's BertWordPiece semantics: word counts over normalised, pre-tokenised
/// text (streamed: only the counts are kept), an alphabet of the LimitAlphabet most frequent characters, words split
/// into a first character and "##"-prefixed continuation characters, then the most frequent adjacent pair merged
/// repeatedly (ties broken by the pair's earlier ids) until VocabSize or MinFrequency stops it. Deterministic: the same
/// text in the same order gives the same vocab.txt. Special tokens come first: [PAD] [UNK] [CLS] [SEP] [MASK].
/// </summary>
public sealed class WordPieceTrainer(TextNormalization normalization, int maxCountedWords = WordPieceTrainer.DefaultMaxCountedWords)
{
    /// <summary>The default bound on distinct words held while counting (see <see cref="MaxCountedWords"/>).</summary>
    public const int DefaultMaxCountedWords = 1 << 18;

    private readonly TextNormalizer _normalizer = new(normalization);
    private readonly WordCountTable _counts = new();
    private char[]? _scratch;

    public long WordsSeen { get; private set; }

    public int DistinctWords => _counts.Count;

    /// <summary>
    /// Bound on the distinct words held while counting, so memory does not grow with the corpus (ids, serial numbers,
    /// typos are mostly seen once). When the table reaches it, every word counted fewer than <see cref="PruneBelow"/>
    /// times is dropped and the floor doubles (lossy counting, as HF tokenizers' trainers bound their word maps by
    /// frequency): a word that survives is one seen at least that often. Pruned occurrences are counted in
    /// <see cref="PrunedWords"/>; a corpus with fewer distinct words than the bound is counted exactly.
    /// </summary>
    public int MaxCountedWords { get; } = maxCountedWords >= 1024 ? maxCountedWords : throw new ArgumentOutOfRangeException(nameof(maxCountedWords), "At least 1024.");

    /// <summary>Words counted fewer times than this were dropped at the last prune (1 = never pruned).</summary>
    public long PruneBelow { get; private set; } = 1;

    /// <summary>Occurrences of words dropped by pruning.</summary>
    public long PrunedWords { get; private set; }

    /// <summary>Counts the words of one piece of raw text (normalised here).</summary>
    public void Add(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Add(text.AsSpan());
    }

    /// <summary>Counts the words of one piece of raw text (normalised here); allocation-free on ASCII and known words.</summary>
    public void Add(ReadOnlySpan<char> text)
    {
        var sink = new CountSink(_counts);
        WordScanner.Scan(_normalizer, text, ref _scratch, ref sink);
        WordsSeen += sink.Words;
        PruneIfFull();
    }

    /// <summary>Counts the words of text already normalised with the same <see cref="TextNormalization"/>.</summary>
    public void AddNormalized(string normalized)
    {
        ArgumentNullException.ThrowIfNull(normalized);
        CountWords(normalized);
    }

    private void CountWords(ReadOnlySpan<char> span)
    {
        var pos = 0;
        while (BertPreTokenizer.NextWord(span, ref pos, out var start, out var length))
        {
            var word = span.Slice(start, length);
            _counts.GetOrAdd(word, WordHash.Of(word))++;
            WordsSeen++;
        }

        PruneIfFull();
    }

    private void PruneIfFull()
    {
        if (_counts.Count < MaxCountedWords)
        {
            return;
        }

        while (_counts.Count >= MaxCountedWords * 3L / 4)
        {
            PruneBelow *= 2;
            PrunedWords += _counts.RemoveBelow(PruneBelow);
        }
    }

    /// <summary>Counts each scanned word (one table lookup, nothing allocated).</summary>
    private struct CountSink(WordCountTable counts) : IWordSink
    {
        public long Words;

        public void OnWord(ReadOnlySpan<char> word, int hash)
        {
            counts.GetOrAdd(word, hash)++;
            Words++;
        }
    }

    /// <summary>Adds counts gathered elsewhere (another trainer, a parallel worker).</summary>
    public void AddCounts(IEnumerable<KeyValuePair<string, long>> counts)
    {
        foreach (var (word, count) in counts)
        {
            _counts.GetOrAdd(word, WordHash.Of(word)) += count;
            WordsSeen += count;
        }
    }

    /// <summary>A snapshot of the counts (word -> occurrences).</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts.Items().ToDictionary(StringComparer.Ordinal);

    /// <summary>Builds the vocabulary (id order) from the counts so far.</summary>
    public IReadOnlyList<string> Train(WordPieceTrainerOptions options)
    {
        options.Validate();
        var vocab = new List<string>(options.VocabSize);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        int Add(string token)
        {
            if (!ids.TryGetValue(token, out var id))
            {
                id = vocab.Count;
                ids[token] = id;
                vocab.Add(token);
            }

            return id;
        }

        foreach (var special in SpecialTokens.All)
        {
            Add(special);
        }

        // Words in ordinal order so everything below is independent of the table's order. The words stay in the
        // table's character arena (sorted as indices): no string per distinct word.
        var table = _counts;
        var words = Enumerable.Range(0, table.Count).Where(e => table.WordAt(e).Length <= SpecialTokens.MaxInputCharsPerWord).ToArray();
        Array.Sort(words, (a, b) => table.WordAt(a).SequenceCompareTo(table.WordAt(b)));

        // Alphabet: the LimitAlphabet most frequent characters (by occurrences), then added in ordinal order.
        var charCounts = new Dictionary<int, long>();
        foreach (var e in words)
        {
            var count = table.CountAt(e);
            foreach (var rune in table.WordAt(e).EnumerateRunes())
            {
                CollectionsMarshal.GetValueRefOrAddDefault(charCounts, rune.Value, out _) += count;
            }
        }

        var alphabet = charCounts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).Take(options.LimitAlphabet)
            .Select(kv => kv.Key).OrderBy(cp => cp).ToArray();
        var kept = new HashSet<int>(alphabet);
        foreach (var cp in alphabet)
        {
            Add(char.ConvertFromUtf32(cp));
        }

        // Each word as symbol ids: first char, then "##c". Words with a dropped character cannot become one token.
        // The symbol ids of each character are looked up once (same ids, same order of first use as adding each).
        var symbols = new List<int[]>(words.Length);
        var wordCounts = new List<long>(words.Length);
        var firstIds = new Dictionary<int, int>();
        var continuationIds = new Dictionary<int, int>();
        var parts = new List<int>(64);
        foreach (var e in words)
        {
            parts.Clear();
            var ok = true;
            var first = true;
            foreach (var rune in table.WordAt(e).EnumerateRunes())
            {
                if (!kept.Contains(rune.Value))
                {
                    ok = false;
                    break;
                }

                var cache = first ? firstIds : continuationIds;
                if (!cache.TryGetValue(rune.Value, out var id))
                {
                    id = Add(first ? rune.ToString() : SpecialTokens.ContinuationPrefix + rune);
                    cache[rune.Value] = id;
                }

                parts.Add(id);
                first = false;
            }

            if (ok)
            {
                symbols.Add([.. parts]);
                wordCounts.Add(table.CountAt(e));
            }
        }

        if (vocab.Count >= options.VocabSize)
        {
            return vocab.Take(Math.Max(options.VocabSize, SpecialTokens.All.Count + alphabet.Length)).ToList();
        }

        Merge(symbols, wordCounts, vocab, ids, Add, options);
        return vocab;
    }

    /// <summary>Writes vocab.txt: one token per line, UTF-8 without BOM, "\n" line ends.</summary>
    public static void WriteVocab(IReadOnlyList<string> vocab, Stream output)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(vocab.Select(t => t + "\n")));
        output.Write(bytes);
    }

    private static void Merge(List<int[]> symbols, List<long> counts, List<string> vocab, Dictionary<string, int> ids,
        Func<string, int> add, WordPieceTrainerOptions options)
    {
        // Per pair: its count and the head of a linked list of the words that contained it (nodes in two flat int
        // lists; entries may be stale or repeated, every use re-checks the word). Far smaller than a set per pair.
        var pairs = new Dictionary<long, PairState>();
        var nodeWord = new ChunkedInts();
        var nodeNext = new ChunkedInts();
        for (var w = 0; w < symbols.Count; w++)
        {
            var s = symbols[w];
            for (var i = 0; i + 1 < s.Length; i++)
            {
                ref var state = ref CollectionsMarshal.GetValueRefOrAddDefault(pairs, Key(s[i], s[i + 1]), out _);
                state.Count += counts[w];
                Link(ref state, w, nodeWord, nodeNext);
            }
        }

        // Max-heap by count, ties by smaller (left, right) ids; stale entries are re-queued with their current count.
        // A pair below MinFrequency can never be chosen: existing pairs only lose counts, new ones are queued as made.
        var queue = new PriorityQueue<long, (long NegCount, long Pair)>();
        foreach (var (p, state) in pairs)
        {
            if (state.Count >= options.MinFrequency)
            {
                queue.Enqueue(p, (-state.Count, p));
            }
        }

        var changed = new HashSet<long>();
        var output = new List<int>(64);
        while (vocab.Count < options.VocabSize && queue.TryDequeue(out var pair, out var priority))
        {
            var current = pairs.GetValueOrDefault(pair).Count;
            if (current != -priority.NegCount)
            {
                if (current >= options.MinFrequency)
                {
                    queue.Enqueue(pair, (-current, pair));
                }

                continue;
            }

            if (current < options.MinFrequency)
            {
                break;
            }

            var (left, right) = Split(pair);
            var rightToken = vocab[right];
            var merged = vocab[left] + (rightToken.StartsWith(SpecialTokens.ContinuationPrefix, StringComparison.Ordinal) ? rightToken[2..] : rightToken);
            var newId = ids.TryGetValue(merged, out var existing) ? existing : add(merged);
            changed.Clear();
            var lastWord = -1;
            for (var node = pairs[pair].Head; node != 0; node = nodeNext[node - 1])
            {
                var w = nodeWord[node - 1];
                if (w == lastWord)
                {
                    continue;
                }

                lastWord = w;
                var s = symbols[w];
                var count = counts[w];
                output.Clear();
                for (var i = 0; i < s.Length; i++)
                {
                    if (i + 1 < s.Length && s[i] == left && s[i + 1] == right)
                    {
                        if (output.Count > 0)
                        {
                            Bump(Key(output[^1], left), -count, w);
                            Bump(Key(output[^1], newId), count, w);
                        }

                        if (i + 2 < s.Length)
                        {
                            // The right neighbour may itself start the next occurrence; it is re-counted as (new, next).
                            Bump(Key(right, s[i + 2]), -count, w);
                            Bump(Key(newId, s[i + 2]), count, w);
                        }

                        Bump(pair, -count, w);
                        output.Add(newId);
                        i++;
                    }
                    else
                    {
                        output.Add(s[i]);
                    }
                }

                if (output.Count != s.Length)
                {
                    symbols[w] = [.. output];
                }
            }

            pairs.Remove(pair);
            foreach (var p in changed)
            {
                var count = pairs.GetValueOrDefault(p).Count;
                if (count >= options.MinFrequency)
                {
                    queue.Enqueue(p, (-count, p));
                }
            }

            void Bump(long p, long delta, int w)
            {
                ref var state = ref CollectionsMarshal.GetValueRefOrAddDefault(pairs, p, out _);
                state.Count += delta;
                if (delta > 0)
                {
                    Link(ref state, w, nodeWord, nodeNext);
                    changed.Add(p);
                }
            }
        }
    }

    private static void Link(ref PairState state, int word, ChunkedInts nodeWord, ChunkedInts nodeNext)
    {
        if (state.Head != 0 && nodeWord[state.Head - 1] == word)
        {
            return;
        }

        nodeWord.Add(word);
        nodeNext.Add(state.Head);
        state.Head = nodeWord.Count; // 1-based; 0 = empty list
    }

    /// <summary>
    /// An append-only int list in 64K-element blocks: the merge's node lists grow to millions of entries, and a List's
    /// doubling would briefly hold the old and the new array (1.5x the list) at the training's memory peak.
    /// </summary>
    private sealed class ChunkedInts
    {
        private const int Shift = 16;
        private const int Mask = (1 << Shift) - 1;
        private readonly List<int[]> _blocks = [];

        public int Count { get; private set; }

        public int this[int index] => _blocks[index >> Shift][index & Mask];

        public void Add(int value)
        {
            if ((Count & Mask) == 0 && (Count >> Shift) == _blocks.Count)
            {
                _blocks.Add(new int[1 << Shift]);
            }

            _blocks[Count >> Shift][Count & Mask] = value;
            Count++;
        }
    }

    private struct PairState
    {
        public long Count;
        public int Head;
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private static (int Left, int Right) Split(long key) => ((int)(key >> 32), (int)(key & 0xFFFFFFFF));
}
