namespace Pipeline.Evaluation;

/// <summary>
/// The small real samples shipped with the evaluation library (copied next to every app that references it):
/// labelled tasks for the data-efficiency report and the unlabelled text corpus and image pool for the demo's pretraining.
/// Licences and attributions: Samples/NOTICE.md (WordNet 3.0 licence, Fashion-MNIST MIT).
/// </summary>
public static class Samples
{
    /// <summary>8-class WordNet noun-gloss lexname task: labeled/{WordNetTask}/ train.jsonl, test.jsonl, labels.txt.</summary>
    public const string WordNetTask = "wordnet-lexnames";

    /// <summary>10-class Fashion-MNIST subset: labeled/{FashionMnistTask}/ idx files + labels.txt.</summary>
    public const string FashionMnistTask = "fashion-mnist";

    /// <summary>Unlabelled text dataset name (unlabeled/{WordNetCorpus}/glosses.txt).</summary>
    public const string WordNetCorpus = "wordnet-glosses";

    /// <summary>Unlabelled image pool (unlabeled/{FashionMnistPool}/{FashionMnistPoolFile}): 1,000 Fashion-MNIST training
    /// images outside the labelled subset, images only (no labels file ships with them).</summary>
    public const string FashionMnistPool = "fashion-mnist";

    public const string FashionMnistPoolFile = "images-idx3-ubyte.gz";

    /// <summary>The Samples folder next to the running app (or null when it was not deployed with it).</summary>
    public static string? Root =>
        Directory.Exists(Path.Combine(AppContext.BaseDirectory, "Samples")) ? Path.Combine(AppContext.BaseDirectory, "Samples") : null;

    public static string Labeled(string task) => Path.Combine(RequireRoot(), "labeled", task);

    public static string Unlabeled(string dataset) => Path.Combine(RequireRoot(), "unlabeled", dataset);

    public static string Notice => Path.Combine(RequireRoot(), "NOTICE.md");

    private static string RequireRoot() =>
        Root ?? throw new DirectoryNotFoundException($"No Samples folder next to {AppContext.BaseDirectory}; reference Pipeline.Evaluation or run bench/data-efficiency/make-samples.");
}
