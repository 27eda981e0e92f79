using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Azure.Storage.Blobs;
using Pipeline.Core;
using Pipeline.Core.Jobs;
using Pipeline.Core.Models;
using Pipeline.Core.Storage;
using Pipeline.Core.Storage.Emulator;
using Pipeline.Evaluation;
using Pipeline.Evaluation.Data;
using Pipeline.Evaluation.Reporting;
using Pipeline.Ingestion.Images;
using Pipeline.Ingestion.Text;
using SkiaSharp;

// DataEfficiencyBench <repo> <work> <trainer.dll> <text-minutes> <image-minutes> <threads> <pretrain-images> [text|image|both]
// 1. Azurite; 2. WordNet gloss corpus -> TextIngestion (accept + seal); Fashion-MNIST train images as PNG blobs ->
// ImageIngestion; 3. Pipeline.Trainer run --spec (mlm, simclr) with Settings.maxMinutes; 4. probe the exported
// encoders (and their random init) vs TF-IDF / pixels on the labelled sets in <work>/data/labeled; 5. BENCH lines.
var inv = CultureInfo.InvariantCulture;
var (repo, work, trainerDll) = (args[0], Path.GetFullPath(args[1]), Path.GetFullPath(args[2]));
var textMinutes = double.Parse(args[3], inv);
var imageMinutes = double.Parse(args[4], inv);
var threads = int.Parse(args[5], inv);
var pretrainImages = int.Parse(args[6], inv);
var which = args.Length > 7 ? args[7] : "both";
var data = Path.Combine(work, "data");
var clock = Stopwatch.StartNew();
void Log(string message) => Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] {message}");

await using var azurite = await AzuriteProcess.StartAsync(dataFolder: Path.Combine(work, "azurite"), toolRoot: repo);
var connection = azurite.ConnectionString;
var service = new StorageOptions { ConnectionString = connection }.CreateBlobServiceClient();
foreach (var container in BlobLayout.AllContainers)
{
    await service.GetBlobContainerClient(container).CreateIfNotExistsAsync();
}

var runId = $"bench-{DateTime.UtcNow:yyyyMMddHHmmss}";
var results = new List<DataEfficiencyReport>();
if (which is "text" or "both")
{
    // Text: the unlabelled gloss corpus (every WordNet gloss but the labelled test glosses).
    var corpus = Path.Combine(data, "unlabeled", "wordnet-glosses", "glosses.txt");
    var upload = new BlobPath(BlobLayout.Unlabeled, "wordnet-glosses/glosses.txt");
    await service.GetBlobContainerClient(upload.Container).GetBlobClient(upload.Name).UploadAsync(corpus, overwrite: true);
    var ingestion = new TextIngestion(service);
    var accepted = await ingestion.AcceptBlobAsync(upload);
    var sealedText = await ingestion.SealAsync("wordnet-glosses", "v1", new TextSealOptions { Vocabulary = new() { VocabSize = 8000 } });
    Log($"text dataset sealed: {accepted.Status}, {sealedText.Items} glosses ({sealedText.TrainItems} train) -> {sealedText.Manifest}");
    // Recipe for a fixed wall-clock budget on 2 cores: glosses are short, so 48-token packed sequences; no dropout (a
    // few minutes of training cannot overfit 100k glosses); peak learning rate 6e-4 with Adam beta2 0.98 (higher rates
    // kept the model at the unigram stage longer, see bench/mlm-quality/spec.json), decayed linearly over the
    // wall-clock budget (no step cap unless TEXT_STEPS is set), and 20% of tokens predicted per sequence (more signal
    // per step than BERT's 15%). Sentence embeddings concatenate the masked means of the embedding output (word level)
    // and of the last layer (context).
    var textSteps = Env("TEXT_STEPS", 1_000_000);
    var spec = new JobSpec
    {
        RunId = runId,
        JobId = "mlm",
        Objective = Objectives.Mlm,
        DatasetManifest = sealedText.Manifest.ToString(),
        TextModel = new TextEncoderConfig { Hidden = 128, Layers = 2, Heads = 4, Intermediate = 512, MaxPositions = 64, Dropout = 0.0, AttentionDropout = 0.0, Pooling = TextPooling.MeanFirstLast },
        Settings = JsonSerializer.SerializeToElement(new { maxMinutes = textMinutes, sequenceLength = 48, masking = new { maskProbability = 0.2 } }),
        Optimization = new OptimizationOptions
        {
            Steps = textSteps, BatchSize = 64, LearningRate = Env("TEXT_LR_E6", 600) * 1e-6, Beta2 = 0.98, WarmupSteps = 300, Schedule = "linear", WeightDecay = 0.01,
            CheckpointEvery = 1000, EvalEvery = 100_000, LogEvery = 100,
        },
        Threads = threads,
    };
    var model = await TrainAsync(spec);
    var labeled = LabeledDataLoader.Load(Path.Combine(data, "labeled", "wordnet-lexnames"), "wordnet-lexnames");
    results.Add(Evaluate(labeled, model, Environment.GetEnvironmentVariable("TEXT_BUDGETS") ?? "50/class"));
}

if (which is "image" or "both")
{
    // Images: Fashion-MNIST training images (labels unused) uploaded as PNG files, as a user would.
    var images = ReadIdx(Path.Combine(data, "labeled", "fashion-mnist", "train-images-idx3-ubyte.gz")).Take(pretrainImages).ToArray();
    var unlabeled = service.GetBlobContainerClient(BlobLayout.Unlabeled);
    var ingestion = new ImageIngestion(service);
    var statuses = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
    await Parallel.ForEachAsync(Enumerable.Range(0, images.Length), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
    {
        var path = new BlobPath(BlobLayout.Unlabeled, $"fashion-mnist/img-{i:D5}.png");
        await unlabeled.GetBlobClient(path.Name).UploadAsync(new BinaryData(Png(images[i])), overwrite: true, ct);
        var outcome = await ingestion.AcceptBlobAsync(path, ct);
        statuses.AddOrUpdate(outcome.Status, 1, (_, n) => n + 1);
    });
    var sealedImages = await ingestion.SealAsync("fashion-mnist", "v1");
    Log($"image dataset sealed: {string.Join(", ", statuses.Select(kv => $"{kv.Value} {kv.Key}"))}; {sealedImages.Items} images -> {sealedImages.Manifest}");
    // The labelled set goes to labeled/fashion-mnist/, apart from the unlabelled uploads: the job only watches kNN
    // accuracy on it (Settings.knn); the SimCLR objective never reads it.
    await LabeledDataLoader.UploadAsync(service, Path.Combine(data, "labeled", "fashion-mnist"), "fashion-mnist", CancellationToken.None);
    // The recipe is ImageRecipes.FashionMnist (src/Pipeline.Training/Images/ImageRecipes.cs), written out here because
    // this driver does not load TorchSharp: 3-block CNN 32-64-128, head 128-128-64, NT-Xent t=0.5, crop scale 0.2-1,
    // flip, brightness/contrast jitter, no blur; AdamW 2e-3, cosine decay over the time budget.
    var spec = new JobSpec
    {
        RunId = runId,
        JobId = "simclr",
        Objective = Objectives.SimClr,
        DatasetManifest = sealedImages.Manifest.ToString(),
        Settings = JsonSerializer.SerializeToElement(new
        {
            maxMinutes = imageMinutes,
            model = new { architecture = "small-cnn", convChannels = EnvText("IMAGE_CHANNELS", "32,64,128").Split(',').Select(int.Parse).ToArray(), projectionHidden = 128, projectionDim = 64 },
            augmentation = new { minScale = 0.2, blurProbability = 0.0 },
            temperature = 0.5,
            scheduleByTime = true,
            knn = new { labeled = "fashion-mnist", every = 500, k = 20, bankImages = 10000, queryImages = 2000 },
        }),
        Optimization = new OptimizationOptions
        {
            Steps = Env("IMAGE_STEPS", 1_000_000), BatchSize = Env("IMAGE_BATCH", 256), LearningRate = 2e-3, WarmupSteps = 50, WeightDecay = 1e-4,
            Schedule = "cosine", GradientClip = 1.0, Seed = 1, CheckpointEvery = 500, EvalEvery = 500, LogEvery = 50,
        },
        Threads = threads,
    };
    var model = await TrainAsync(spec);
    var labeled = LabeledDataLoader.Load(Path.Combine(data, "labeled", "fashion-mnist"), "fashion-mnist");
    results.Add(Evaluate(labeled, model, Environment.GetEnvironmentVariable("IMAGE_BUDGETS") ?? "1%"));
}

foreach (var report in results)
{
    Console.WriteLine(report.ToMarkdown(plotFile: null));
    Console.WriteLine("BENCH task=" + report.Task + " " + string.Join(' ', report.FlatMetrics().Select(kv => $"{kv.Key}={kv.Value.ToString("F4", inv)}")));
}

Log("done");
return 0;

async Task<string> TrainAsync(JobSpec spec)
{
    var specPath = BlobLayout.JobSpec(spec.RunId, spec.JobId);
    await service.GetBlobContainerClient(specPath.Container).GetBlobClient(specPath.Name)
        .UploadAsync(new BinaryData(JsonSerializer.SerializeToUtf8Bytes(spec, PipelineJson.Options)), overwrite: true);
    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { trainerDll, "run", "--spec", specPath.ToString(), "--work", Path.Combine(work, "trainer", spec.JobId) })
    {
        start.ArgumentList.Add(a);
    }

    start.Environment[StorageOptions.ConnectionStringVariable] = connection;
    Log($"training {spec.Objective} (at most {JobSettingsMinutes(spec)} min, {spec.Optimization.Steps} steps, {threads} threads)...");
    using var process = Process.Start(start)!;
    var logPath = Path.Combine(work, $"{spec.JobId}.log");
    await using (var logFile = new StreamWriter(logPath))
    {
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = 0;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            await logFile.WriteLineAsync(line);
            if (++lines % 20 == 0 || line.Contains("finished", StringComparison.OrdinalIgnoreCase) || line.Contains("error", StringComparison.OrdinalIgnoreCase))
            {
                Log($"  {spec.JobId}: {(line.Length > 200 ? line[..200] : line)}");
            }
        }

        await process.WaitForExitAsync();
        await logFile.WriteLineAsync(await stderr);
    }

    var resultPath = BlobLayout.JobResult(spec.RunId, spec.JobId);
    var json = (await service.GetBlobContainerClient(resultPath.Container).GetBlobClient(resultPath.Name).DownloadContentAsync()).Value.Content.ToString();
    var result = JsonSerializer.Deserialize<JobResult>(json, PipelineJson.Options)!;
    Log($"{spec.JobId}: exit {process.ExitCode}, {result.Status}, {result.Steps} steps, {result.ValidationMetric}={result.ValidationValue:G4} (log {logPath})");
    if (result.Status != JobResult.Statuses.Succeeded)
    {
        throw new InvalidOperationException($"{spec.JobId} failed: {result.Error}");
    }

    var folder = Path.Combine(work, "models", spec.JobId);
    Directory.CreateDirectory(folder);
    foreach (var file in new[] { "encoder.onnx", "encoder-random.onnx", "vocab.txt", "config.json", "preprocessing.json", "loss-curve.png", "knn-accuracy.json", "view-pairs.png" })
    {
        if (result.Artifacts.TryGetValue(file, out var blob))
        {
            var path = BlobPath.Parse(blob);
            await service.GetBlobContainerClient(path.Container).GetBlobClient(path.Name).DownloadToAsync(Path.Combine(folder, file));
        }
    }

    return folder;
}

DataEfficiencyReport Evaluate(LabeledDataset labeled, string modelFolder, string budgets)
{
    var options = new DataEfficiencyOptions { Budgets = budgets.Split(','), Draws = Env("DRAWS", 3), Threads = threads };
    Log($"evaluating {labeled.Task}: {labeled.Train.Count} train pool, {labeled.Test.Count} test, budgets {budgets}");
    var result = new DataEfficiencyEvaluator(options).Evaluate(labeled, modelFolder, new Progress<string>(line => Log("  " + line)));
    DataEfficiencyArtifacts.Write(result, Path.Combine(work, "reports", labeled.Task));
    return result.Report;
}

static string JobSettingsMinutes(JobSpec spec) => spec.Settings?.GetProperty("maxMinutes").ToString() ?? "-";

static int Env(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;

static string EnvText(string name, string fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : fallback;

static IEnumerable<byte[]> ReadIdx(string path)
{
    using var reader = new BinaryReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
    int Next() => System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(reader.ReadBytes(4));
    _ = Next();
    var count = Next();
    var size = Next() * Next();
    for (var i = 0; i < count; i++)
    {
        yield return reader.ReadBytes(size);
    }
}

static byte[] Png(byte[] grey)
{
    var side = (int)Math.Sqrt(grey.Length);
    using var bitmap = new SKBitmap(new SKImageInfo(side, side, SKColorType.Gray8, SKAlphaType.Opaque));
    System.Runtime.InteropServices.Marshal.Copy(grey, 0, bitmap.GetPixels(), grey.Length);
    using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
    return data.ToArray();
}
