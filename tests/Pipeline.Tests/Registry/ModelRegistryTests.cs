using System.Text;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Pipeline.Core.Registry;
using Pipeline.Core.Storage;
using Pipeline.Testing;

namespace Pipeline.Tests.Registry;

[Collection(AzuriteCollection.Name)]
public class ModelRegistryTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TempDirectory _dir = new("registry-test");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Versions_are_assigned_1_then_2_and_latest_follows_when_evaluation_is_present()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();

        var first = await registry.PublishAsync(Request(name, "encoder-v1"));
        var second = await registry.PublishAsync(Request(name, "encoder-v2"));

        Assert.Equal(("1", "2"), (first.Version, second.Version));
        Assert.True(first.Promoted && second.Promoted, second.NotPromotedReason);
        var latest = await registry.ResolveAsync(name);
        Assert.Equal("2", latest.Version);
        Assert.True(latest.ViaLatest);
        Assert.Equal("encoder-v2", Encoding.UTF8.GetString(await registry.ReadFileAsync(latest, "encoder.onnx")));
        var pinned = await registry.ResolveAsync(name, "1");
        Assert.Equal("encoder-v1", Encoding.UTF8.GetString(await registry.ReadFileAsync(pinned, "encoder.onnx")));
        Assert.Equal(["1", "2"], (await registry.ListVersionsAsync(name)).Select(v => v.Version));
        Assert.Contains(name, await registry.ListModelsAsync());

        var alias = JsonNode.Parse((await Blob(BlobLayout.LatestAlias(name)).DownloadContentAsync()).Value.Content.ToString())!;
        Assert.Equal("2", alias["version"]!.GetValue<string>());
        Assert.Equal(name, alias["name"]!.GetValue<string>());
        Assert.Equal(Sha256Sums.Hash("encoder-v2"u8), alias["sha256"]!.GetValue<string>());
        Assert.NotNull(alias["publishedAt"]);
    }

    [Fact]
    public async Task Version_folder_holds_artifacts_metrics_card_and_sums_that_sha256sum_format_verifies()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();

        var result = await registry.PublishAsync(Request(name, "encoder"));
        var download = await registry.DownloadAsync(await registry.ResolveAsync(name, result.Version), _dir.Combine("download"));

        foreach (var file in new[] { "encoder.onnx", "mlm.onnx", "config.json", "vocab.txt", "loss-curve.png", "data-efficiency.png", "parity.json", "metrics.json", "model-card.md", "SHA256SUMS" })
        {
            Assert.True(File.Exists(Path.Combine(download, file)), file);
        }

        var sums = Sha256Sums.Parse(File.ReadAllText(Path.Combine(download, "SHA256SUMS")));
        Assert.All(sums, kv => Assert.Equal(kv.Value, Sha256Sums.Hash(File.ReadAllBytes(Path.Combine(download, kv.Key)))));
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(download, "metrics.json")))!;
        Assert.Equal(0.71, metrics["evaluation"]!["accuracy"]!.GetValue<double>());
        Assert.Equal(2.5, metrics["training"]!["final_loss"]!.GetValue<double>());
        Assert.True(metrics["parity"]!["passed"]!.GetValue<bool>());
        var card = File.ReadAllText(Path.Combine(download, "model-card.md"));
        Assert.Contains("![Loss Curve](loss-curve.png)", card);
        Assert.Contains("![Data Efficiency](data-efficiency.png)", card);
        Assert.Contains("evaluation.accuracy | 0.71", card);
        Assert.Contains("datasets/wordnet/3/manifest.json", card);
        Assert.Contains("| hidden | 128 |", card);
        Assert.Contains(sums["encoder.onnx"], card);
    }

    [Fact]
    public async Task Failed_parity_refuses_to_publish_and_writes_nothing()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();
        var failing = Parity() with { Passed = false, MaxAbsDiff = 0.3, Failure = "last_hidden_state in case 'b2 t6': max |diff| 0.3 > 1e-4 at [0, 3, 1]" };

        var error = await Assert.ThrowsAsync<PublishRefusedException>(() => registry.PublishAsync(Request(name, "x") with { Parity = failing }));

        Assert.Contains("last_hidden_state", error.Message);
        Assert.Empty(await registry.ListVersionsAsync(name));
        await Assert.ThrowsAsync<ModelNotFoundException>(() => registry.ResolveAsync(name));
    }

    [Fact]
    public async Task Without_evaluation_the_version_is_stored_but_latest_stays_and_promotion_is_refused()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();
        await registry.PublishAsync(Request(name, "good"));

        var unevaluated = await registry.PublishAsync(Request(name, "unevaluated") with { Evaluation = null });
        var (promoted, reason) = await registry.TryPromoteAsync(name, unevaluated.Version);

        Assert.False(unevaluated.Promoted);
        Assert.Contains("evaluation", unevaluated.NotPromotedReason);
        Assert.False(promoted);
        Assert.Contains("evaluation", reason);
        Assert.Equal("1", (await registry.ResolveAsync(name)).Version);
        Assert.Equal("2", (await registry.ResolveAsync(name, "2")).Version);
    }

    [Fact]
    public async Task Corrupted_artifact_is_refused_at_load()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();
        await registry.PublishAsync(Request(name, "original-bytes"));
        // Storage-level tampering (versions are written once by the registry; this bypasses it).
        await Blob(BlobLayout.ModelArtifact(name, "1", "encoder.onnx")).UploadAsync(BinaryData.FromString("flipped-bytes!"), overwrite: true);

        var model = await registry.ResolveAsync(name);
        var error = await Assert.ThrowsAsync<ModelIntegrityException>(() => registry.ReadFileAsync(model, "encoder.onnx"));

        Assert.Contains("encoder.onnx", error.Message);
        Assert.Contains("corrupted", error.Message);
        await Assert.ThrowsAsync<ModelIntegrityException>(() => registry.DownloadAsync(model, _dir.Combine("corrupt")));
        Assert.Equal("{\"hidden\":128}", Encoding.UTF8.GetString(await registry.ReadFileAsync(model, "config.json")));
    }

    [Fact]
    public async Task Concurrent_publishes_get_distinct_versions_and_latest_ends_on_the_newest()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => registry.PublishAsync(Request(name, $"encoder-{i}")))));

        Assert.Equal(["1", "2", "3", "4"], results.Select(r => r.Version).Order());
        Assert.Equal("4", (await registry.ResolveAsync(name)).Version);
        var (promoted, reason) = await registry.TryPromoteAsync(name, "2");
        Assert.False(promoted);
        Assert.Contains("newer version 4", reason);
    }

    [Fact]
    public async Task Retried_publish_with_the_same_idempotency_key_returns_the_same_version()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();

        var first = await registry.PublishAsync(Request(name, "enc") with { IdempotencyKey = "run-7/publish" });
        var retry = await registry.PublishAsync(Request(name, "enc") with { IdempotencyKey = "run-7/publish" });
        var other = await registry.PublishAsync(Request(name, "enc") with { IdempotencyKey = "run-8/publish" });

        Assert.Equal("1", first.Version);
        Assert.Equal("1", retry.Version);
        Assert.True(retry.AlreadyPublished);
        Assert.Equal(first.Files, retry.Files);
        Assert.Equal("2", other.Version);
    }

    [Fact]
    public async Task Artifacts_are_copied_from_blob_paths_as_result_json_carries_them()
    {
        var service = await azurite.CreateLayoutAsync();
        var registry = new ModelRegistry(service);
        var name = UniqueName();
        var runs = service.GetBlobContainerClient(BlobLayout.Runs);
        var prefix = $"run-{Guid.NewGuid():N}/job-1/";
        await runs.GetBlobClient(prefix + "encoder.onnx").UploadAsync(BinaryData.FromString("from-blob"));
        await runs.GetBlobClient(prefix + "config.json").UploadAsync(BinaryData.FromString("{\"hidden\":64}"));
        var request = new PublishRequest
        {
            Name = name,
            Artifacts = new Dictionary<string, ArtifactSource>
            {
                ["encoder.onnx"] = ArtifactSource.FromBlob($"runs/{prefix}encoder.onnx"),
                ["config.json"] = ArtifactSource.FromBlob($"runs/{prefix}config.json"),
            },
            Parity = Parity(),
            Evaluation = new JsonObject { ["accuracy"] = 0.5 },
        };

        var result = await registry.PublishAsync(request);

        Assert.True(result.Promoted);
        var model = await registry.ResolveAsync(name);
        Assert.Equal("from-blob", Encoding.UTF8.GetString(await registry.ReadFileAsync(model, "encoder.onnx")));
    }

    [Fact]
    public async Task Versions_are_immutable_a_missing_encoder_or_reserved_file_name_is_refused()
    {
        var registry = new ModelRegistry(await azurite.CreateLayoutAsync());
        var name = UniqueName();
        await registry.PublishAsync(Request(name, "v1"));

        await Assert.ThrowsAsync<Azure.RequestFailedException>(() =>
            Blob(BlobLayout.ModelArtifact(name, "1", "SHA256SUMS")).UploadAsync(BinaryData.FromString("x"), new Azure.Storage.Blobs.Models.BlobUploadOptions { Conditions = new() { IfNoneMatch = Azure.ETag.All } }));
        var noEncoder = Request(name, "v2") with { Artifacts = new Dictionary<string, ArtifactSource> { ["config.json"] = ArtifactSource.FromFile(Write("c.json", "{}")) } };
        await Assert.ThrowsAsync<PublishRefusedException>(() => registry.PublishAsync(noEncoder));
        var reserved = Request(name, "v2");
        reserved = reserved with { Artifacts = new Dictionary<string, ArtifactSource>(reserved.Artifacts) { ["SHA256SUMS"] = ArtifactSource.FromFile(Write("s", "x")) } };
        await Assert.ThrowsAsync<PublishRefusedException>(() => registry.PublishAsync(reserved));
        var traversal = Request(name, "v2");
        traversal = traversal with { Artifacts = new Dictionary<string, ArtifactSource>(traversal.Artifacts) { ["../evil.onnx"] = ArtifactSource.FromFile(Write("e", "x")) } };
        await Assert.ThrowsAsync<PublishRefusedException>(() => registry.PublishAsync(traversal));
        Assert.Single(await registry.ListVersionsAsync(name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("ab")]
    [InlineData("../models")]
    [InlineData("Upper-case")]
    [InlineData("-leading")]
    [InlineData("trailing-")]
    [InlineData("under_score")]
    [InlineData("a/b/c")]
    public async Task Invalid_model_names_are_rejected_before_any_storage_call(string name)
    {
        var registry = new ModelRegistry(new BlobServiceClient(new Uri("http://127.0.0.1:9/devstoreaccount1"), new Azure.Storage.StorageSharedKeyCredential("devstoreaccount1", Convert.ToBase64String(new byte[32]))));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.ResolveAsync(name));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.ListVersionsAsync(name));
    }

    [Fact]
    public void Names_and_versions_are_bounded_and_versions_are_canonical_integers()
    {
        Assert.Equal("abc", ModelName.Validate("abc"));
        Assert.Equal(new string('a', 63), ModelName.Validate(new string('a', 63)));
        Assert.Throws<ArgumentException>(() => ModelName.Validate(new string('a', 64)));
        Assert.Throws<ArgumentException>(() => ModelName.Validate(null));
        Assert.Equal(12, ModelName.ParseVersion("12"));
        foreach (var bad in new[] { "0", "01", "-1", "1.0", "../1", "", "latest", "1234567890" })
        {
            Assert.Throws<ArgumentException>(() => ModelName.ParseVersion(bad));
        }
    }

    private PublishRequest Request(string name, string encoderContent) => new()
    {
        Name = name,
        Artifacts = new Dictionary<string, ArtifactSource>
        {
            ["encoder.onnx"] = ArtifactSource.FromFile(Write($"{Guid.NewGuid():N}.onnx", encoderContent)),
            ["mlm.onnx"] = ArtifactSource.FromFile(Write($"{Guid.NewGuid():N}.mlm", "mlm")),
            ["config.json"] = ArtifactSource.FromFile(Write($"{Guid.NewGuid():N}.json", "{\"hidden\":128}")),
            ["vocab.txt"] = ArtifactSource.FromFile(Write($"{Guid.NewGuid():N}.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")),
            ["loss-curve.png"] = ArtifactSource.FromFile(Write($"{Guid.NewGuid():N}.png", "png")),
            ["data-efficiency.png"] = ArtifactSource.FromFile(Write($"{Guid.NewGuid():N}.png", "png2")),
        },
        Parity = Parity(),
        Evaluation = new JsonObject { ["accuracy"] = 0.71, ["budgets"] = new JsonArray(10, 50, 100) },
        TrainingMetrics = new Dictionary<string, double> { ["final_loss"] = 2.5, ["steps"] = 300 },
        Card = new ModelCardInfo { Objective = "mlm", Modality = "text", DatasetManifest = "datasets/wordnet/3/manifest.json", DatasetManifestSha256 = new string('c', 64) },
    };

    private static ParityReport Parity() => new() { Model = "encoder.onnx", MaxAbsDiff = 2.4e-6, Passed = true };

    private string Write(string file, string content)
    {
        var path = _dir.Combine(file);
        File.WriteAllText(path, content);
        return path;
    }

    private BlobClient Blob(BlobPath path) => azurite.CreateBlobServiceClient().GetBlobContainerClient(path.Container).GetBlobClient(path.Name);

    private static string UniqueName() => $"model-{Guid.NewGuid():N}"[..20];
}
