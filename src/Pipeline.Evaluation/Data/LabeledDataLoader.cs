using System.IO.Compression;
using System.Text.Json;
using Azure.Storage.Blobs;
using Pipeline.Core.Storage;
using Pipeline.Inference;
using Pipeline.Inference.Images;

namespace Pipeline.Evaluation.Data;

/// <summary>
/// Reads a labelled task from a folder laid out as labeled/{task}/ is in blob storage:
/// <list type="bullet">
/// <item>text: train.jsonl and test.jsonl, one {"text": ..., "label": ...} per line;</item>
/// <item>images: {train,test|t10k}-images-idx3-ubyte[.gz] + -labels-idx1-ubyte[.gz] (the MNIST format), or
/// {train,test}/{label}/*.png|jpg folders;</item>
/// <item>optional labels.txt: class names in index order (for idx files, line i names label i).</item>
/// </list>
/// Without a test split, a seeded stratified 20% of train is held out.
/// </summary>
public static class LabeledDataLoader
{
    public const string LabelsFile = "labels.txt";

    /// <summary>Downloads labeled/{task}/ into <paramref name="localDirectory"/> and loads it.</summary>
    public static async Task<LabeledDataset> DownloadAsync(BlobServiceClient service, string task, string localDirectory, CancellationToken ct)
    {
        var container = service.GetBlobContainerClient(BlobLayout.Labeled);
        var prefix = $"{task.Trim('/')}/";
        var any = false;
        await foreach (var item in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, prefix, ct).ConfigureAwait(false))
        {
            any = true;
            var local = Path.Combine(localDirectory, item.Name[prefix.Length..].Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(local)!);
            await container.GetBlobClient(item.Name).DownloadToAsync(local, ct).ConfigureAwait(false);
        }

        if (!any)
        {
            throw new FileNotFoundException($"No labelled data under {BlobLayout.Labeled}/{prefix}; upload train.jsonl/test.jsonl (text) or idx files / image folders (images) there.");
        }

        return Load(localDirectory, task);
    }

    /// <summary>Uploads a local labelled folder to labeled/{task}/ (the demo and the bench use it).</summary>
    public static async Task UploadAsync(BlobServiceClient service, string localDirectory, string task, CancellationToken ct)
    {
        var container = service.GetBlobContainerClient(BlobLayout.Labeled);
        await container.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        foreach (var file in Directory.EnumerateFiles(localDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(localDirectory, file).Replace(Path.DirectorySeparatorChar, '/');
            await container.GetBlobClient($"{task.Trim('/')}/{relative}").UploadAsync(file, overwrite: true, ct).ConfigureAwait(false);
        }
    }

    public static LabeledDataset Load(string directory, string? task = null)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Labelled data folder '{directory}' does not exist.");
        }

        task ??= Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var names = File.Exists(Path.Combine(directory, LabelsFile))
            ? File.ReadAllLines(Path.Combine(directory, LabelsFile)).Select(l => l.Trim()).Where(l => l.Length > 0).ToList()
            : null;
        if (File.Exists(Path.Combine(directory, "train.jsonl")))
        {
            return LoadText(directory, task, names);
        }

        if (FindIdx(directory, "train", "images-idx3-ubyte") is not null)
        {
            return LoadIdx(directory, task, names);
        }

        if (Directory.Exists(Path.Combine(directory, "train")))
        {
            return LoadImageFolders(directory, task, names);
        }

        throw new InvalidDataException($"'{directory}' holds no labelled data: expected train.jsonl, train-images-idx3-ubyte[.gz] or train/{{label}}/ image folders.");
    }

    private static LabeledDataset LoadText(string directory, string task, List<string>? names)
    {
        var train = ReadJsonl(Path.Combine(directory, "train.jsonl"));
        var testPath = Path.Combine(directory, "test.jsonl");
        var test = File.Exists(testPath) ? ReadJsonl(testPath) : null;
        names ??= [.. train.Concat(test ?? []).Select(e => e.Label).Distinct().Order(StringComparer.Ordinal)];
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        LabeledSplit ToSplit(List<(string Text, string Label)> rows) => new()
        {
            Texts = [.. rows.Select(r => r.Text)],
            Labels = [.. rows.Select(r => index.TryGetValue(r.Label, out var i) ? i : throw new InvalidDataException($"Label '{r.Label}' is not in {LabelsFile}."))],
        };

        var dataset = new LabeledDataset { Task = task, Modality = Modality.Text, ClassNames = names, Train = ToSplit(train), Test = test is null ? ToSplit([]) : ToSplit(test) };
        return (test is null ? HoldOut(dataset) : dataset).Validate();
    }

    private static List<(string Text, string Label)> ReadJsonl(string path)
    {
        var rows = new List<(string, string)>();
        var line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (!root.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("label", out var l) || l.ValueKind is not (JsonValueKind.String or JsonValueKind.Number))
            {
                throw new InvalidDataException($"{Path.GetFileName(path)} line {line}: expected {{\"text\": string, \"label\": string}}.");
            }

            rows.Add((t.GetString()!, l.ValueKind == JsonValueKind.String ? l.GetString()! : l.GetRawText()));
        }

        return rows;
    }

    private static LabeledDataset LoadIdx(string directory, string task, List<string>? names)
    {
        var (trainImages, shape) = ReadIdxImages(FindIdx(directory, "train", "images-idx3-ubyte")!);
        var trainLabels = ReadIdxLabels(FindIdx(directory, "train", "labels-idx1-ubyte")
            ?? throw new FileNotFoundException($"'{directory}' has train images but no train-labels-idx1-ubyte[.gz]."));
        var testImagesPath = FindIdx(directory, "test", "images-idx3-ubyte") ?? FindIdx(directory, "t10k", "images-idx3-ubyte");
        var testLabelsPath = FindIdx(directory, "test", "labels-idx1-ubyte") ?? FindIdx(directory, "t10k", "labels-idx1-ubyte");
        var classes = Math.Max(trainLabels.Max(), 0) + 1;
        names ??= [.. Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        var train = new LabeledSplit { Images = trainImages, Labels = trainLabels };
        LabeledSplit test = new() { Images = [], Labels = [] };
        if (testImagesPath is not null && testLabelsPath is not null)
        {
            var (testImages, testShape) = ReadIdxImages(testImagesPath);
            if (testShape != shape)
            {
                throw new InvalidDataException($"Train images are {shape} but test images are {testShape}.");
            }

            test = new LabeledSplit { Images = testImages, Labels = ReadIdxLabels(testLabelsPath) };
        }

        var dataset = new LabeledDataset { Task = task, Modality = Modality.Image, ClassNames = names, Train = train, Test = test, ImageShape = shape };
        return (test.Count == 0 ? HoldOut(dataset) : dataset).Validate();
    }

    private static LabeledDataset LoadImageFolders(string directory, string task, List<string>? names)
    {
        var spec = new Pipeline.Core.Datasets.ImagePreprocessing();
        names ??= [.. Directory.EnumerateDirectories(Path.Combine(directory, "train")).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        LabeledSplit? ReadSplit(string split)
        {
            var root = Path.Combine(directory, split);
            if (!Directory.Exists(root))
            {
                return null;
            }

            var images = new List<byte[]>();
            var labels = new List<int>();
            foreach (var labelDir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
            {
                var label = Path.GetFileName(labelDir);
                if (!index.TryGetValue(label, out var id))
                {
                    throw new InvalidDataException($"Folder {split}/{label} is not a class in {LabelsFile}.");
                }

                foreach (var file in Directory.EnumerateFiles(labelDir).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)
                    || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
                {
                    images.Add(Pipeline.Ingestion.Images.ImageDecoder.ToChw(File.ReadAllBytes(file), spec)
                        ?? throw new InvalidDataException($"{file} is not a decodable PNG or JPEG image."));
                    labels.Add(id);
                }
            }

            return new LabeledSplit { Images = images, Labels = labels };
        }

        var train = ReadSplit("train")!;
        var test = ReadSplit("test");
        var dataset = new LabeledDataset
        {
            Task = task,
            Modality = Modality.Image,
            ClassNames = names,
            Train = train,
            Test = test ?? new LabeledSplit { Images = [], Labels = [] },
            ImageShape = (spec.Channels, spec.Height, spec.Width),
        };
        return (test is null ? HoldOut(dataset) : dataset).Validate();
    }

    /// <summary>Holds out a seeded stratified 20% of train as the test split.</summary>
    private static LabeledDataset HoldOut(LabeledDataset dataset)
    {
        var test = LabeledDataset.StratifiedSubset(dataset.Train.Labels, dataset.ClassNames.Count, Math.Max(1, dataset.Train.Count / 5), seed: 12345);
        var testSet = test.ToHashSet();
        var train = Enumerable.Range(0, dataset.Train.Count).Where(i => !testSet.Contains(i)).ToArray();
        return dataset with { Train = dataset.Train.Select(train), Test = dataset.Train.Select(test) };
    }

    private static string? FindIdx(string directory, string split, string kind)
    {
        foreach (var name in new[] { $"{split}-{kind}", $"{split}-{kind}.gz" })
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    private static Stream OpenMaybeGzip(string path)
    {
        var file = File.OpenRead(path);
        return path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
    }

    private static (List<byte[]> Images, (int, int, int) Shape) ReadIdxImages(string path)
    {
        using var stream = OpenMaybeGzip(path);
        using var reader = new BinaryReader(stream);
        var magic = ReadBigEndian(reader);
        if (magic != 0x00000803)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)} is not an idx3 ubyte file (magic {magic:x8}).");
        }

        var count = ReadBigEndian(reader);
        var rows = ReadBigEndian(reader);
        var cols = ReadBigEndian(reader);
        var images = new List<byte[]>(count);
        for (var i = 0; i < count; i++)
        {
            var pixels = reader.ReadBytes(rows * cols);
            if (pixels.Length != rows * cols)
            {
                throw new InvalidDataException($"{Path.GetFileName(path)} ends after {i} of {count} images.");
            }

            images.Add(pixels);
        }

        return (images, (1, rows, cols));
    }

    private static List<int> ReadIdxLabels(string path)
    {
        using var stream = OpenMaybeGzip(path);
        using var reader = new BinaryReader(stream);
        var magic = ReadBigEndian(reader);
        if (magic != 0x00000801)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)} is not an idx1 ubyte file (magic {magic:x8}).");
        }

        var count = ReadBigEndian(reader);
        var bytes = reader.ReadBytes(count);
        if (bytes.Length != count)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)} ends after {bytes.Length} of {count} labels.");
        }

        return [.. bytes.Select(b => (int)b)];
    }

    private static int ReadBigEndian(BinaryReader reader) => System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(reader.ReadBytes(4));
}
