using System.Text;
using Pipeline.Core.Text;

namespace Pipeline.Tests.Tokenization;

public class WordPieceTrainerTests
{
    private static readonly string[] Corpus =
    [
        "The quick brown fox jumps over the lazy dog.",
        "The quicker brown foxes jumped over the lazier dogs!",
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void; and darkness was upon the face of the deep.",
        "Jumping foxes and jumping dogs: the quickest of them all $5 + 3 = 8.",
    ];

    private static IReadOnlyList<string> Train(int vocabSize, int minFrequency = 2, int limitAlphabet = 1000, IEnumerable<string>? corpus = null)
    {
        var trainer = new WordPieceTrainer(TextNormalization.Default);
        foreach (var line in corpus ?? Corpus)
        {
            trainer.Add(line);
        }

        return trainer.Train(new WordPieceTrainerOptions { VocabSize = vocabSize, MinFrequency = minFrequency, LimitAlphabet = limitAlphabet });
    }

    [Fact]
    public void Vocabulary_starts_with_the_specials_then_the_alphabet_and_merges_frequent_words()
    {
        var vocab = Train(200);
        Assert.Equal(SpecialTokens.All, vocab.Take(5));
        Assert.Contains("the", vocab);
        Assert.Contains("and", vocab);
        Assert.Contains("##s", vocab);
        Assert.Contains("$", vocab);
        Assert.Contains("=", vocab);
        Assert.Equal(vocab.Count, vocab.Distinct().Count());
        Assert.True(vocab.Count <= 200);
    }

    [Fact]
    public void Training_is_deterministic_and_independent_of_count_insertion_order()
    {
        var a = Train(120);
        var b = Train(120, corpus: Corpus.Reverse());
        Assert.Equal(a, b);
    }

    [Fact]
    public void Min_frequency_stops_merging_and_limit_alphabet_drops_rare_characters()
    {
        var unlimited = Train(10_000, minFrequency: 1);
        var limited = Train(10_000, minFrequency: 1000);
        Assert.True(limited.Count < unlimited.Count);
        Assert.DoesNotContain("the", limited);

        var tiny = Train(10_000, limitAlphabet: 3);
        Assert.Equal(5 + 3, tiny.Count(t => !t.StartsWith("##", StringComparison.Ordinal) && t.Length == 1) + 5);
    }

    [Fact]
    public void A_trained_vocabulary_encodes_its_corpus_without_unknowns_and_round_trips()
    {
        var vocab = Train(300);
        using var stream = new MemoryStream();
        WordPieceTrainer.WriteVocab(vocab, stream);
        stream.Position = 0;
        var encoder = WordPieceEncoder.Load(stream, TextNormalization.Default);
        foreach (var line in Corpus)
        {
            var ids = encoder.EncodeToIds(line);
            Assert.DoesNotContain(encoder.UnkId, ids);
            Assert.Equal(TextNormalizer.Default.Normalize(line).Replace(" ", ""), encoder.Decode(ids).Replace(" ", ""));
        }

        Assert.Equal(Encoding.UTF8.GetBytes(string.Concat(vocab.Select(t => t + "\n"))), stream.ToArray());
    }

    [Fact]
    public void Word_counts_stay_bounded_by_pruning_rare_words_and_frequent_words_keep_exact_counts()
    {
        var trainer = new WordPieceTrainer(TextNormalization.Default, maxCountedWords: 1024);
        for (var i = 0; i < 5000; i++)
        {
            trainer.Add($"the common words and serial{i}"); // each serial number seen once
        }

        Assert.InRange(trainer.DistinctWords, 4, 1023);
        Assert.True(trainer.PruneBelow >= 2);
        Assert.True(trainer.PrunedWords > 0);
        Assert.Equal(5000, trainer.Counts["common"]);
        Assert.Equal(4 * 5000 + 5000, trainer.WordsSeen);

        var exact = new WordPieceTrainer(TextNormalization.Default);
        exact.Add("a small corpus, a small corpus");
        Assert.Equal(1, exact.PruneBelow);
        Assert.Equal(0, exact.PrunedWords);
        Assert.Equal(2, exact.Counts["small"]);
    }
}
