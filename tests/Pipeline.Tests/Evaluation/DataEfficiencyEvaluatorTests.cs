using System.IO.Compression;
using System.Text.Json;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;
using Pipeline.Inference.Heads;
using Pipeline.Testing;

namespace Pipeline.Tests.Evaluation;

public sealed class DataEfficiencyEvaluatorTests
{
    [Fact]
    public void Text_encoder_beats_its_random_init_and_the_report_plot_and_head_are_written()
    {
        using var temp = new TempDirectory("eval-text");
        var (data, vocab) = SyntheticData.TopicTexts(trainPerClass: 50, testPerClass: 25);
        TinyEncoders.WriteText(temp.Path, vocab, dims: 8, classes: 4, wordsPerClass: 6);
        var options = new DataEfficiencyOptions { Budgets = ["2/class", "10%"], Draws = 3 };

        var result = new DataEfficiencyEvaluator(options).Evaluate(data, temp.Path);
        var report = result.Report;
        Assert.Equal(["pretrained", "random-init", "tfidf"], report.Encoders);
        Assert.Equal(6, report.Results.Count);
        var pretrained = report.Find("pretrained", "2pc")!;
        var random = report.Find("random-init", "2pc")!;
        Assert.Equal(8, pretrained.Labels);
        Assert.Equal(3, pretrained.Accuracies.Count);
        Assert.True(pretrained.Mean > 0.9, $"pretrained {pretrained.Mean}");
        Assert.True(pretrained.Mean > random.Mean + 0.2, $"pretrained {pretrained.Mean} vs random-init {random.Mean}");

        // Deterministic: the same options give the same numbers.
        var again = new DataEfficiencyEvaluator(options).Evaluate(data, temp.Path).Report;
        Assert.Equal(report.Results.SelectMany(r => r.Accuracies), again.Results.SelectMany(r => r.Accuracies));

        var files = DataEfficiencyArtifacts.Write(result, temp.Combine("out"));
        var png = File.ReadAllBytes(files[DataEfficiencyPlot.FileName]);
        Assert.True(png.Length > 5000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
        using var metrics = JsonDocument.Parse(File.ReadAllText(files[DataEfficiencyArtifacts.MetricsFile]));
        var evaluation = metrics.RootElement.GetProperty("evaluation");
        Assert.Equal(Math.Round(pretrained.Mean, 5), evaluation.GetProperty("probe_2pc_pretrained").GetDouble());
        Assert.Equal(4, evaluation.GetProperty("classes").GetInt32());
        Assert.Equal(6, metrics.RootElement.GetProperty("dataEfficiency").GetProperty("results").GetArrayLength());
        var markdown = File.ReadAllText(files[DataEfficiencyArtifacts.MarkdownFile]);
        Assert.Contains("| 2/class (8) |", markdown);
        Assert.Contains("data-efficiency.png", markdown);

        // classifier.json is what the inference service loads; on the raw served embeddings it classifies the test set.
        var head = LinearHead.Parse(File.ReadAllText(files[LinearHead.FileName]));
        Assert.Equal(data.ClassNames, head.Labels);
        using var encoder = Pipeline.Evaluation.Features.OnnxEncoder.Open(temp.Path, "encoder.onnx", Modality.Text);
        var embeddings = encoder.Embed(data.Test);
        var correct = Enumerable.Range(0, data.Test.Count).Count(i =>
        {
            var p = head.Predict(embeddings.Row(i));
            return Array.IndexOf(p, p.Max()) == data.Test.Labels[i];
        });
        Assert.True(correct > 0.9 * data.Test.Count, $"head accuracy {correct}/{data.Test.Count}");
    }

    [Fact]
    public void Image_encoder_is_probed_against_raw_pixels_from_an_idx_labelled_folder()
    {
        using var temp = new TempDirectory("eval-image");
        var source = SyntheticData.QuadrantImages(trainPerClass: 40, testPerClass: 20);
        var folder = temp.Combine("labeled");
        Directory.CreateDirectory(folder);
        WriteIdx(Path.Combine(folder, "train-images-idx3-ubyte.gz"), Path.Combine(folder, "train-labels-idx1-ubyte.gz"), source.Train, 8);
        WriteIdx(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"), source.Test, 8);
        File.WriteAllLines(Path.Combine(folder, LabeledDataLoader.LabelsFile), source.ClassNames);
        TinyEncoders.WriteImage(temp.Path, side: 8, dims: 6);

        var data = LabeledDataLoader.Load(folder, "quadrants");
        Assert.Equal(Modality.Image, data.Modality);
        Assert.Equal(source.ClassNames, data.ClassNames);
        Assert.Equal(source.Test.Labels, data.Test.Labels);
        Assert.Equal(source.Train.Images![7], data.Train.Images![7]);

        var result = new DataEfficiencyEvaluator(new DataEfficiencyOptions { Budgets = ["5%"], Draws = 2 }).Evaluate(data, temp.Path);
        Assert.Equal(["pretrained", "random-init", "pixels"], result.Report.Encoders);
        var pretrained = result.Report.Find("pretrained", "5pct")!;
        Assert.Equal(8, pretrained.Labels);
        Assert.True(pretrained.Mean > 0.9, $"pretrained {pretrained.Mean}");
        Assert.Equal(6, result.Classifier!.Dimensions);
    }

    [Fact]
    public void Jsonl_without_a_test_file_holds_out_a_stratified_fifth()
    {
        using var temp = new TempDirectory("eval-jsonl");
        var lines = Enumerable.Range(0, 50).Select(i => JsonSerializer.Serialize(new { text = $"text {i}", label = i % 2 == 0 ? "even" : "odd" }));
        File.WriteAllLines(temp.Combine("train.jsonl"), lines);
        var data = LabeledDataLoader.Load(temp.Path, "parity");
        Assert.Equal(["even", "odd"], data.ClassNames);
        Assert.Equal(10, data.Test.Count);
        Assert.Equal(5, data.Test.Labels.Count(l => l == 0));
        Assert.Empty(data.Train.Texts!.Intersect(data.Test.Texts!));
    }

    private static void WriteIdx(string imagesPath, string labelsPath, LabeledSplit split, int side)
    {
        using (var images = new BinaryWriter(new GZipStream(File.Create(imagesPath), CompressionLevel.Fastest)))
        {
            foreach (var v in new[] { 0x803, split.Count, side, side })
            {
                images.Write(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v));
            }

            foreach (var image in split.Images!)
            {
                images.Write(image);
            }
        }

        using var labels = new BinaryWriter(new GZipStream(File.Create(labelsPath), CompressionLevel.Fastest));
        labels.Write(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(0x801));
        labels.Write(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(split.Count));
        foreach (var label in split.Labels)
        {
            labels.Write((byte)label);
        }
    }
}
