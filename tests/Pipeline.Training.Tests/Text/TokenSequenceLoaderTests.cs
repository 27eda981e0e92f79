using Pipeline.Core.Datasets;
using Pipeline.Training.Text;

namespace Pipeline.Training.Tests.Text;

public class TokenSequenceLoaderTests
{
    private static readonly MlmVocabulary Vocab = MlmVocabulary.FromTokens(TinyTextDataset.Vocabulary);

    private static TokenShardData Shard(int docs, int seed)
    {
        using var stream = new MemoryStream();
        TokenShard.Write(stream, TinyTextDataset.Documents(docs, seed), TinyTextDataset.Vocabulary.Count);
        return TokenShard.Read(stream.ToArray());
    }

    [Fact]
    public void An_epoch_packs_every_token_once_between_cls_sep_and_padding()
    {
        var shard = Shard(50, 1);
        var loader = new TokenSequenceLoader([shard], 16, Vocab, seed: 5, shuffle: true);
        var seen = new List<long>();
        while (loader.Position.Epoch == 0)
        {
            var (ids, mask) = loader.Next(1);
            Assert.Equal(Vocab.Cls, ids[0]);
            var real = (int)mask.Sum();
            Assert.Equal(Vocab.Sep, ids[real - 1]);
            Assert.All(ids.Skip(real), id => Assert.Equal(Vocab.Pad, id));
            seen.AddRange(ids.Take(real).Where(id => id >= 5));
        }

        // Batches never straddle: the epoch ended exactly at a row boundary or the row held the last chunks.
        Assert.Equal(shard.Ids.Select(i => (long)i).Order(), seen.Order());
    }

    [Fact]
    public void A_loader_set_to_a_saved_position_continues_with_the_same_batches()
    {
        var shard = Shard(30, 2);
        var straight = new TokenSequenceLoader([shard], 16, Vocab, seed: 5, shuffle: true);
        for (var i = 0; i < 7; i++)
        {
            straight.Next(4);
        }

        var saved = straight.Position;
        var expected = Enumerable.Range(0, 10).Select(_ => straight.Next(4).Ids).ToList();
        var resumed = new TokenSequenceLoader([shard], 16, Vocab, seed: 5, shuffle: true) { Position = saved };
        var actual = Enumerable.Range(0, 10).Select(_ => resumed.Next(4).Ids).ToList();
        Assert.Equal(expected, actual);
        Assert.True(straight.Position.Epoch >= 1, "the test should cross an epoch boundary");
    }
}
