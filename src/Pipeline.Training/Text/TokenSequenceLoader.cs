using System.Runtime.CompilerServices;
using Pipeline.Core.Datasets;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Text;

/// <summary>Where a loader stands: the epoch and the next chunk of that epoch's shuffled order. Saved in checkpoints.</summary>
public readonly record struct LoaderPosition(int Epoch, int Cursor);

/// <summary>
/// Turns token shards into fixed-length training sequences. Documents are cut into chunks of at most
/// length - 2 tokens; each epoch visits every chunk once in an order shuffled from (seed, epoch); consecutive chunks
/// are packed into one sequence "[CLS] a [SEP] b [SEP] ..." until the next would not fit, then padded.
/// The order depends only on the seed and the position, so a resumed job sees exactly the batches it would have seen.
/// </summary>
public sealed class TokenSequenceLoader
{
    private readonly int[][] _chunks;
    private readonly int _length;
    private readonly MlmVocabulary _vocab;
    private readonly long _seed;
    private readonly bool _shuffle;
    private int[] _order = [];
    private bool _singleEpoch;
    private int _orderEpoch = -1;

    public TokenSequenceLoader(IEnumerable<TokenShardData> shards, int length, MlmVocabulary vocab, long seed, bool shuffle)
    {
        if (length < 3)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "Sequences need room for [CLS], a token and [SEP].");
        }

        _length = length;
        _vocab = vocab;
        _seed = seed;
        _shuffle = shuffle;
        var chunks = new List<int[]>();
        var max = length - 2;
        foreach (var shard in shards)
        {
            for (var d = 0; d < shard.DocumentCount; d++)
            {
                var doc = shard.Document(d);
                for (var start = 0; start < doc.Length; start += max)
                {
                    chunks.Add(doc.Slice(start, Math.Min(max, doc.Length - start)).ToArray());
                }
            }
        }

        _chunks = chunks.ToArray();
        if (_chunks.Length == 0)
        {
            throw new InvalidDataException("The shards hold no tokens; ingest more text before training.");
        }
    }

    public int Length => _length;

    public int ChunkCount => _chunks.Length;

    public long TokenCount => _chunks.Sum(c => (long)c.Length);

    public LoaderPosition Position { get; set; }

    /// <summary>The next <paramref name="batch"/> packed sequences; wraps into the next epoch as needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot every step: optimised code from the first call, no tier-0 phase
    public (long[] Ids, long[] AttentionMask) Next(int batch)
    {
        var ids = new long[batch * _length];
        var mask = new long[batch * _length];
        for (var row = 0; row < batch; row++)
        {
            var offset = row * _length;
            ids[offset] = _vocab.Cls;
            var used = 1;
            while (!(_singleEpoch && Position.Epoch > 0))
            {
                var chunk = Peek();
                if (used + chunk.Length + 1 > _length)
                {
                    // Chunks are at most length - 2, so the first one always fits.
                    break;
                }

                foreach (var id in chunk)
                {
                    ids[offset + used++] = id;
                }

                ids[offset + used++] = _vocab.Sep;
                Advance();
                if (used + 2 > _length)
                {
                    break;
                }
            }

            for (var i = used; i < _length; i++)
            {
                ids[offset + i] = _vocab.Pad;
            }

            Array.Fill(mask, 1L, offset, used);
        }

        return (ids, mask);
    }

    /// <summary>One pass over all chunks in file order (validation), batch by batch; the last batch may be short.</summary>
    public IEnumerable<(long[] Ids, long[] AttentionMask, int Rows)> OnePass(int batch)
    {
        Position = new LoaderPosition(0, 0);
        _singleEpoch = true;
        try
        {
            while (Position.Epoch == 0)
            {
                var rows = new List<(long[], long[])>();
                while (rows.Count < batch && Position.Epoch == 0)
                {
                    var (i, m) = Next(1);
                    rows.Add((i, m));
                }

                yield return (rows.SelectMany(r => r.Item1).ToArray(), rows.SelectMany(r => r.Item2).ToArray(), rows.Count);
            }
        }
        finally
        {
            // Also when the caller stops early (evaluation reads a bounded number of batches).
            _singleEpoch = false;
        }
    }

    private int[] Peek()
    {
        EnsureOrder(Position.Epoch);
        return _chunks[_order[Position.Cursor]];
    }

    private void Advance()
    {
        var next = Position.Cursor + 1;
        Position = next >= _chunks.Length ? new LoaderPosition(Position.Epoch + 1, 0) : Position with { Cursor = next };
    }

    private void EnsureOrder(int epoch)
    {
        if (_orderEpoch == epoch)
        {
            return;
        }

        _order = Enumerable.Range(0, _chunks.Length).ToArray();
        if (_shuffle)
        {
            JobRandom.Create(_seed, $"shuffle/{epoch}").Shuffle(_order);
        }

        _orderEpoch = epoch;
    }
}
