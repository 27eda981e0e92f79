using Pipeline.Core.Datasets;

namespace Pipeline.Tests.Datasets;

public class ShardFormatTests
{
    [Theory]
    [InlineData(2000)]
    [InlineData(70000)]
    public void Token_shard_round_trips_documents_and_boundaries(int vocab)
    {
        int[][] docs = [[5, 6, 7], [vocab - 1], [9, 10, 11, 12]];
        using var stream = new MemoryStream();
        TokenShard.Write(stream, docs, vocab);

        var shard = TokenShard.Read(stream.ToArray());

        Assert.Equal(3, shard.DocumentCount);
        for (var i = 0; i < docs.Length; i++)
        {
            Assert.Equal(docs[i], shard.Document(i).ToArray());
        }

        Assert.Equal(vocab <= 65536 ? 2 : 4, TokenShard.BytesPerToken(vocab));
    }

    [Fact]
    public void Truncated_token_shard_is_refused_with_a_reason()
    {
        using var stream = new MemoryStream();
        TokenShard.Write(stream, [[1, 2, 3]], 100);
        var bytes = stream.ToArray()[..^3];
        var error = Assert.Throws<InvalidDataException>(() => TokenShard.Read(bytes));
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Token_id_outside_the_vocabulary_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenShard.Write(new MemoryStream(), [[1, 100]], 100));

    [Fact]
    public void Image_shard_round_trips_pixels()
    {
        var a = Enumerable.Range(0, 2 * 2).Select(i => (byte)i).ToArray();
        var b = Enumerable.Range(0, 2 * 2).Select(i => (byte)(255 - i)).ToArray();
        using var stream = new MemoryStream();
        ImageShard.Write(stream, 1, 2, 2, [a, b]);

        var shard = ImageShard.Read(stream.ToArray());

        Assert.Equal((1, 2, 2, 2), (shard.Channels, shard.Height, shard.Width, shard.Count));
        Assert.Equal(b, shard.Image(1).ToArray());
    }
}
