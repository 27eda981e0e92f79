namespace Pipeline.Evaluation.Data;

/// <summary>Which raw-feature baseline and which encoder input a labelled set needs.</summary>
public enum Modality
{
    Text,
    Image,
}

/// <summary>One split of a labelled set: label indices and either texts or CHW uint8 images.</summary>
public sealed record LabeledSplit
{
    public required IReadOnlyList<int> Labels { get; init; }

    public IReadOnlyList<string>? Texts { get; init; }

    public IReadOnlyList<byte[]>? Images { get; init; }

    public int Count => Labels.Count;

    /// <summary>The examples at <paramref name="indices"/>, in that order.</summary>
    public LabeledSplit Select(IReadOnlyList<int> indices) => new()
    {
        Labels = [.. indices.Select(i => Labels[i])],
        Texts = Texts is null ? null : [.. indices.Select(i => Texts[i])],
        Images = Images is null ? null : [.. indices.Select(i => Images[i])],
    };
}

/// <summary>
/// A labelled downstream task (labeled/{task}/ in blob storage): class names, a training pool the label budgets draw
/// from, and a fixed test split. Kept apart from unlabeled/ so pretraining never reads it.
/// </summary>
public sealed record LabeledDataset
{
    public required string Task { get; init; }

    public required Modality Modality { get; init; }

    public required IReadOnlyList<string> ClassNames { get; init; }

    public required LabeledSplit Train { get; init; }

    public required LabeledSplit Test { get; init; }

    /// <summary>Images: channels, height, width of every CHW image.</summary>
    public (int Channels, int Height, int Width) ImageShape { get; init; }

    public LabeledDataset Validate()
    {
        if (ClassNames.Count < 2)
        {
            throw new InvalidDataException($"Labelled set '{Task}' has {ClassNames.Count} classes; a probe needs at least 2.");
        }

        foreach (var (name, split) in new[] { ("train", Train), ("test", Test) })
        {
            if (split.Count == 0)
            {
                throw new InvalidDataException($"Labelled set '{Task}' has an empty {name} split.");
            }

            if (split.Labels.Any(l => l < 0 || l >= ClassNames.Count))
            {
                throw new InvalidDataException($"Labelled set '{Task}' {name} split has a label index outside 0..{ClassNames.Count - 1}.");
            }

            var expected = Modality == Modality.Text ? split.Texts?.Count : split.Images?.Count;
            if (expected != split.Count)
            {
                throw new InvalidDataException($"Labelled set '{Task}' {name} split needs one {(Modality == Modality.Text ? "text" : "image")} per label.");
            }
        }

        return this;
    }

    /// <summary>
    /// A smaller copy for quick runs: at most <paramref name="maxTrain"/> / <paramref name="maxTest"/> examples, each a
    /// seeded stratified subsample (null keeps a split whole).
    /// </summary>
    public LabeledDataset Subsample(int? maxTrain, int? maxTest, int seed = 0) => this with
    {
        Train = maxTrain is { } a && a < Train.Count ? Train.Select(StratifiedSubset(Train.Labels, ClassNames.Count, a, seed)) : Train,
        Test = maxTest is { } b && b < Test.Count ? Test.Select(StratifiedSubset(Test.Labels, ClassNames.Count, b, seed + 1)) : Test,
    };

    internal static int[] StratifiedSubset(IReadOnlyList<int> labels, int classes, int count, int seed)
    {
        var random = new Random(seed);
        var byClass = Enumerable.Range(0, classes).Select(c => Enumerable.Range(0, labels.Count).Where(i => labels[i] == c).ToArray()).ToArray();
        foreach (var members in byClass)
        {
            random.Shuffle(members);
        }

        // Deal round-robin over classes so the subset keeps the class balance.
        var chosen = new List<int>(count);
        for (var round = 0; chosen.Count < count; round++)
        {
            var added = false;
            foreach (var members in byClass)
            {
                if (round < members.Length && chosen.Count < count)
                {
                    chosen.Add(members[round]);
                    added = true;
                }
            }

            if (!added)
            {
                break;
            }
        }

        chosen.Sort();
        return [.. chosen];
    }
}
