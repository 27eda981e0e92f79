using Pipeline.Training.Jobs;
using Pipeline.Training.Text;

namespace Pipeline.Training.Tests.Text;

public class MaskingCollatorTests
{
    private static readonly MlmVocabulary Vocab = MlmVocabulary.FromTokens(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Enumerable.Range(0, 995).Select(i => $"t{i}")]);

    /// <summary>Rows "[CLS] 100 random tokens [SEP] [PAD]..." of length 128.</summary>
    private static (long[] Ids, long[] Mask, int Rows) Batch(int rows, int seed)
    {
        var random = new Random(seed);
        var ids = new long[rows * 128];
        var mask = new long[rows * 128];
        for (var r = 0; r < rows; r++)
        {
            var o = r * 128;
            ids[o] = Vocab.Cls;
            for (var i = 1; i <= 100; i++)
            {
                ids[o + i] = random.Next(5, Vocab.Size);
            }

            ids[o + 101] = Vocab.Sep;
            Array.Fill(mask, 1L, o, 102);
        }

        return (ids, mask, rows);
    }

    [Fact]
    public void Chooses_15_percent_then_masks_80_randomises_10_keeps_10_over_a_million_tokens()
    {
        var collator = new MaskingCollator(new MaskingOptions(), Vocab);
        var random = JobRandom.Create(1, "masking");
        long eligible = 0, chosen = 0, masked = 0, randomised = 0, kept = 0;
        for (var b = 0; b < 100; b++)
        {
            var (ids, mask, rows) = Batch(100, b);
            var result = collator.Apply(ids, mask, rows, 128, random);
            for (var i = 0; i < ids.Length; i++)
            {
                var special = mask[i] == 0 || Vocab.IsSpecial[ids[i]];
                eligible += special ? 0 : 1;
                if (result.Labels[i] == MaskingCollator.Ignore)
                {
                    Assert.Equal(ids[i], result.InputIds[i]);
                    continue;
                }

                Assert.False(special, $"special or padding token {ids[i]} at {i} was chosen");
                Assert.Equal(ids[i], result.Labels[i]);
                chosen++;
                if (result.InputIds[i] == Vocab.Mask)
                {
                    masked++;
                }
                else if (result.InputIds[i] != ids[i])
                {
                    Assert.False(Vocab.IsSpecial[result.InputIds[i]]);
                    randomised++;
                }
                else
                {
                    kept++;
                }
            }
        }

        Assert.Equal(1_000_000, eligible);
        Assert.InRange((double)chosen / eligible, 0.145, 0.155);
        Assert.InRange((double)masked / chosen, 0.795, 0.805);
        // A random replacement equal to the original (1 in 995) counts as kept.
        Assert.InRange((double)randomised / chosen, 0.095, 0.105);
        Assert.InRange((double)kept / chosen, 0.095, 0.105);
    }

    [Fact]
    public void Whole_word_masking_chooses_a_word_and_its_continuation_pieces_together()
    {
        var vocab = MlmVocabulary.FromTokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "run", "walk", "##ing", "##s"]);
        var collator = new MaskingCollator(new MaskingOptions { MaskProbability = 0.3, WholeWordMasking = true }, vocab);
        var random = JobRandom.Create(2, "masking");
        long[] row = [2, 5, 7, 8, 6, 7, 5, 6, 8, 3];
        var ids = Enumerable.Repeat(row, 500).SelectMany(r => r).ToArray();
        var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
        var result = collator.Apply(ids, mask, 500, row.Length, random);
        var words = 0;
        for (var i = 0; i < ids.Length; i++)
        {
            if (vocab.IsContinuation[ids[i]])
            {
                // A "##" piece is chosen exactly when the piece before it (same word) is.
                Assert.Equal(result.Labels[i - 1] != MaskingCollator.Ignore, result.Labels[i] != MaskingCollator.Ignore);
            }
            else if (!vocab.IsSpecial[ids[i]] && result.Labels[i] != MaskingCollator.Ignore)
            {
                words++;
            }
        }

        Assert.InRange(words / (500.0 * 4), 0.25, 0.35);
    }

    [Fact]
    public void The_same_generator_state_replays_the_same_masks()
    {
        var collator = new MaskingCollator(new MaskingOptions(), Vocab);
        var (ids, mask, rows) = Batch(4, 9);
        var a = JobRandom.Create(3, "masking");
        collator.Apply(ids, mask, rows, 128, a);
        var saved = a.State;
        var first = collator.Apply(ids, mask, rows, 128, a);
        var replayed = collator.Apply(ids, mask, rows, 128, new JobRandom(saved));
        Assert.Equal(first.InputIds, replayed.InputIds);
        Assert.Equal(first.MaskedPositions, replayed.MaskedPositions);
        var other = collator.Apply(ids, mask, rows, 128, JobRandom.Create(4, "masking"));
        Assert.NotEqual(first.MaskedPositions, other.MaskedPositions);
    }
}
