using Pipeline.Evaluation;
using Pipeline.Evaluation.Features;
using Pipeline.Evaluation.Probe;

namespace Pipeline.Tests.Evaluation;

public sealed class BaselineTests
{
    [Fact]
    public void Tfidf_weights_rare_terms_above_common_ones_and_normalises_rows()
    {
        var vectorizer = TfIdfVectorizer.Fit(["the cat sat", "the dog sat", "the cat ran", "a bird flew"], minDocumentFrequency: 1);
        var row = vectorizer.Transform(["The cat, the DOG!"]).Row(0).ToArray();
        Assert.Equal(1.0, Math.Sqrt(row.Sum(v => (double)v * v)), 5);
        var nonZero = row.Where(v => v > 0).OrderBy(v => v).ToArray();
        Assert.Equal(3, nonZero.Length); // the, cat, dog: punctuation and case do not make new terms
        var words = TfIdfVectorizer.Tokenize("The cat, the DOG!").ToArray();
        Assert.Equal(["the", "cat", "the", "dog"], words);
        var dog = vectorizer.Transform(["dog"]).Row(0).ToArray();
        var the = vectorizer.Transform(["the"]).Row(0).ToArray();
        Assert.NotEqual(Array.IndexOf(dog, dog.Max()), Array.IndexOf(the, the.Max()));
        // "the" occurs in 3 of 4 documents, "dog" in 1: once each in a text, "dog" weighs more.
        var both = vectorizer.Transform(["the dog"]).Row(0).ToArray();
        Assert.True(both[Array.IndexOf(dog, dog.Max())] > both[Array.IndexOf(the, the.Max())]);
    }

    [Fact]
    public void Tfidf_probe_learns_topic_words_from_few_labels()
    {
        var (data, _) = SyntheticData.TopicTexts(trainPerClass: 40, testPerClass: 30);
        var evaluator = new DataEfficiencyEvaluator(new DataEfficiencyOptions { Budgets = ["10/class"], Draws = 2 });
        var result = evaluator.EvaluateFeatures(data, [DataEfficiencyEvaluator.RawFeatures(data)]);
        var tfidf = Assert.Single(result.Report.Results);
        Assert.Equal("tfidf", tfidf.Encoder);
        Assert.Equal(40, tfidf.Labels);
        Assert.True(tfidf.Mean > 0.9, $"TF-IDF probe accuracy {tfidf.Mean}");
    }

    [Fact]
    public void Raw_pixels_scale_bytes_to_unit_range()
    {
        var features = RawPixels.Transform([[0, 255, 51]]);
        Assert.Equal([0f, 1f, 0.2f], features.Row(0).ToArray());
    }

    [Fact]
    public void Random_labels_leave_the_probe_at_chance()
    {
        // A probe that "learns" labels unrelated to the features must not score above chance on new data.
        var (x, _) = SyntheticData.Blobs(perClass: 50, classes: 4, dims: 8, seed: 21);
        var random = new Random(3);
        var y = Enumerable.Range(0, x.Rows).Select(_ => random.Next(4)).ToArray();
        var (xTest, _) = SyntheticData.Blobs(perClass: 100, classes: 4, dims: 8, seed: 22);
        var yTest = Enumerable.Range(0, xTest.Rows).Select(_ => random.Next(4)).ToArray();
        var probe = LinearProbe.Fit(x, y, 4, new LinearProbeOptions(), seed: 1);
        Assert.InRange(probe.Accuracy(xTest, yTest), 0.15, 0.36);
    }
}
