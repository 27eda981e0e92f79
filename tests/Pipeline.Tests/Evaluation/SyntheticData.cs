using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Probe;

namespace Pipeline.Tests.Evaluation;

/// <summary>Small labelled problems with known structure for the probe and evaluator tests.</summary>
internal static class SyntheticData
{
    /// <summary>Gaussian blobs: class c centred at 3 e_c in <paramref name="dims"/> dimensions, unit noise.</summary>
    public static (FeatureMatrix X, int[] Y) Blobs(int perClass, int classes, int dims, int seed, double separation = 3.0)
    {
        var random = new Random(seed);
        var x = new FeatureMatrix(perClass * classes, dims);
        var y = new int[perClass * classes];
        for (var i = 0; i < y.Length; i++)
        {
            y[i] = i % classes;
            var row = x.Row(i);
            for (var j = 0; j < dims; j++)
            {
                row[j] = (float)(Gaussian(random) + (j == y[i] ? separation : 0));
            }
        }

        return (x, y);
    }

    /// <summary>Texts of 3 class words and 3 shared filler words; vocab.txt lists specials, class words, fillers.</summary>
    public static (LabeledDataset Data, string[] Vocab) TopicTexts(int trainPerClass, int testPerClass, int classes = 4, int wordsPerClass = 6, int seed = 3)
    {
        var classWords = Enumerable.Range(0, classes).Select(c => Enumerable.Range(0, wordsPerClass).Select(w => $"topic{(char)('a' + c)}{(char)('a' + w)}").ToArray()).ToArray();
        var fillers = Enumerable.Range(0, 20).Select(i => $"filler{(char)('a' + i)}").ToArray();
        var random = new Random(seed);
        LabeledSplit Make(int perClass)
        {
            var texts = new List<string>();
            var labels = new List<int>();
            for (var i = 0; i < perClass * classes; i++)
            {
                var c = i % classes;
                var words = Enumerable.Range(0, 3).Select(_ => classWords[c][random.Next(wordsPerClass)])
                    .Concat(Enumerable.Range(0, 3).Select(_ => fillers[random.Next(fillers.Length)])).ToArray();
                random.Shuffle(words);
                texts.Add(string.Join(' ', words));
                labels.Add(c);
            }

            return new LabeledSplit { Texts = texts, Labels = labels };
        }

        var data = new LabeledDataset
        {
            Task = "topics",
            Modality = Modality.Text,
            ClassNames = [.. Enumerable.Range(0, classes).Select(c => $"class-{(char)('a' + c)}")],
            Train = Make(trainPerClass),
            Test = Make(testPerClass),
        };
        string[] vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. classWords.SelectMany(w => w), .. fillers];
        return (data.Validate(), vocab);
    }

    /// <summary>side x side grey images: class q has a bright quadrant q over noise.</summary>
    public static LabeledDataset QuadrantImages(int trainPerClass, int testPerClass, int side = 8, int seed = 5)
    {
        var random = new Random(seed);
        var half = side / 2;
        LabeledSplit Make(int perClass)
        {
            var images = new List<byte[]>();
            var labels = new List<int>();
            for (var i = 0; i < perClass * 4; i++)
            {
                var q = i % 4;
                var image = new byte[side * side];
                for (var r = 0; r < side; r++)
                {
                    for (var c = 0; c < side; c++)
                    {
                        var inside = r / half == q / 2 && c / half == q % 2;
                        image[(r * side) + c] = (byte)Math.Clamp((inside ? 150 : 60) + random.Next(-60, 61), 0, 255);
                    }
                }

                images.Add(image);
                labels.Add(q);
            }

            return new LabeledSplit { Images = images, Labels = labels };
        }

        return new LabeledDataset
        {
            Task = "quadrants",
            Modality = Modality.Image,
            ClassNames = ["top-left", "top-right", "bottom-left", "bottom-right"],
            Train = Make(trainPerClass),
            Test = Make(testPerClass),
            ImageShape = (1, side, side),
        }.Validate();
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
