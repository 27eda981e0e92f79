using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Pipeline.Testing;
using SkiaSharp;

namespace Pipeline.Tests.Inference;

[Collection(AzuriteCollection.Name)]
public class InferenceEndpointTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Text_endpoints_over_http_match_onnx_runtime_called_directly()
    {
        var blobs = await azurite.CreateLayoutAsync();
        var name = TestRegistry.UniqueName("text");
        var head = new { labels = new[] { "animal", "place", "colour" }, weights = RandomRows(3, TinyOnnxModels.Hidden, 7), bias = new[] { 0.1f, -0.2f, 0.05f } };
        var files = await TestRegistry.PublishTextAsync(blobs, name, "1", seed: 11, classifierJson: JsonSerializer.Serialize(head));
        await using var host = await InferenceTestHost.StartAsync(blobs);

        // embed: two texts of different lengths share one padded batch; each must equal its unpadded direct run.
        string[] texts = ["The cat sat on the mat.", "a big red dog ran in the park and the bird is blue and the fish is red"];
        var embed = await PostAsync(host, $"/api/models/{name}/embed", new { texts });
        Assert.Equal("1", embed.GetProperty("version").GetString());
        for (var i = 0; i < texts.Length; i++)
        {
            var expected = OnnxReference.SentenceEmbedding(files.Encoder, OnnxReference.Ids(texts[i]));
            OnnxReference.AssertClose(expected, Floats(embed.GetProperty("embeddings")[i]));
        }

        var tokens = embed.GetProperty("tokens");
        Assert.False(tokens[0].GetProperty("truncated").GetBoolean());
        Assert.True(tokens[1].GetProperty("truncated").GetBoolean()); // 18 tokens + [CLS]/[SEP] > 16 positions
        Assert.Equal(16, tokens[1].GetProperty("count").GetInt32());

        // normalise on request
        var normalized = await PostAsync(host, $"/api/models/{name}/embed", new { texts = new[] { texts[0] }, normalize = true });
        var unit = Floats(normalized.GetProperty("embeddings")[0]);
        Assert.Equal(1.0, Math.Sqrt(unit.Sum(x => (double)x * x)), 4);

        // fill-mask: top-k ids equal the argsort of the direct MLM logits at the [MASK] position.
        var fill = await PostAsync(host, $"/api/models/{name}/fill-mask", new { text = "the cat [MASK] on the mat", topK = 3 });
        var ids = OnnxReference.Ids("the cat [MASK] on the mat");
        var position = Array.IndexOf(ids, 4);
        var logits = OnnxReference.MlmLogits(files.Mlm, ids).AsSpan(position * TestRegistry.VocabSize, TestRegistry.VocabSize).ToArray();
        var expectedTop = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(3).ToArray();
        var mask = fill.GetProperty("masks")[0];
        Assert.Equal(position, mask.GetProperty("position").GetInt32());
        Assert.Equal(expectedTop, mask.GetProperty("candidates").EnumerateArray().Select(c => c.GetProperty("id").GetInt32()).ToArray());
        var expectedScore = Softmax(logits)[expectedTop[0]];
        Assert.Equal(expectedScore, mask.GetProperty("candidates")[0].GetProperty("score").GetSingle(), 4);

        // similarity: ranking and scores are the cosine of the direct embeddings.
        string[] candidates = ["the dog ran", "blue sky and sea", "a cat sat", "big house"];
        var similarity = await PostAsync(host, $"/api/models/{name}/similarity", new { query = "the cat sat on a mat", candidates });
        var query = OnnxReference.SentenceEmbedding(files.Encoder, OnnxReference.Ids("the cat sat on a mat"));
        var expectedRanking = candidates
            .Select((c, i) => (i, score: OnnxReference.Cosine(query, OnnxReference.SentenceEmbedding(files.Encoder, OnnxReference.Ids(c)))))
            .OrderByDescending(x => x.score).ToList();
        var results = similarity.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(expectedRanking.Select(x => x.i), results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(expectedRanking[0].score, results[0].GetProperty("score").GetSingle(), 4);

        // classify: softmax(W e + b) of the direct embedding.
        var classify = await PostAsync(host, $"/api/models/{name}/classify", new { texts = new[] { texts[0] } });
        var e = OnnxReference.SentenceEmbedding(files.Encoder, OnnxReference.Ids(texts[0]));
        var scores = Softmax(head.weights.Select((w, k) => w.Zip(e, (a, b) => a * b).Sum() + head.bias[k]).ToArray());
        var best = Array.IndexOf(scores, scores.Max());
        var prediction = classify.GetProperty("predictions")[0];
        Assert.Equal(head.labels[best], prediction.GetProperty("label").GetString());
        Assert.Equal(scores[best], prediction.GetProperty("score").GetSingle(), 4);

        // describe and list
        var description = await host.Client.GetFromJsonAsync<JsonElement>($"/api/models/{name}");
        Assert.Equal("1", description.GetProperty("latest").GetString());
        Assert.Equal(["1"], description.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        Assert.Contains(name, description.GetProperty("card").GetString());
        Assert.True(description.GetProperty("hasClassifier").GetBoolean());
        var list = await host.Client.GetFromJsonAsync<JsonElement>("/api/models");
        Assert.Contains(name, list.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public async Task Image_endpoints_decode_png_with_the_models_preprocessing_and_match_onnx_runtime()
    {
        var blobs = await azurite.CreateLayoutAsync();
        var name = TestRegistry.UniqueName("image");
        var encoder = TinyOnnxModels.ImageEncoder(channels: 1, height: 8, width: 8, dims: 6, seed: 5);
        var head = new { labels = new[] { "dark", "light" }, weights = RandomRows(2, 6, 3), bias = new[] { 0f, 0f } };
        await TestRegistry.PublishAsync(blobs, name, "1", new Dictionary<string, byte[]>
        {
            ["encoder.onnx"] = encoder,
            ["preprocessing.json"] = Encoding.UTF8.GetBytes("""{"channels":1,"height":8,"width":8,"resize":"shorter-side-then-center-crop","imageMean":[0.5],"imageStd":[0.5]}"""),
            ["classifier.json"] = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(head)),
        });
        await using var host = await InferenceTestHost.StartAsync(blobs);

        // An 8x8 grey gradient: already the model's size, so the expected pixels are (g / 255 - 0.5) / 0.5.
        var grey = Enumerable.Range(0, 64).Select(i => (byte)(i * 4)).ToArray();
        var png = GreyPng(8, 8, grey);
        var expected = OnnxReference.ImageEmbedding(encoder, grey.Select(g => ((g / 255f) - 0.5f) / 0.5f).ToArray(), [1, 1, 8, 8]);

        using var raw = new ByteArrayContent(png);
        raw.Headers.ContentType = new("image/png");
        var response = await host.Client.PostAsync($"/api/models/{name}/embed-image", raw);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var fromRaw = await response.Content.ReadFromJsonAsync<JsonElement>();
        OnnxReference.AssertClose(expected, Floats(fromRaw.GetProperty("embeddings")[0]));

        var fromJson = await PostAsync(host, $"/api/models/{name}/embed-image", new { images = new[] { Convert.ToBase64String(png), Convert.ToBase64String(png) } });
        OnnxReference.AssertClose(expected, Floats(fromJson.GetProperty("embeddings")[1]));

        // A 16x32 image is scaled by 1/2 on its shorter side and centre-cropped: a uniform image stays uniform.
        var uniform = GreyPng(32, 16, Enumerable.Repeat((byte)200, 32 * 16).ToArray());
        var cropped = await PostAsync(host, $"/api/models/{name}/embed-image", new { images = new[] { Convert.ToBase64String(uniform) } });
        var expectedUniform = OnnxReference.ImageEmbedding(encoder, Enumerable.Repeat(((200 / 255f) - 0.5f) / 0.5f, 64).ToArray(), [1, 1, 8, 8]);
        OnnxReference.AssertClose(expectedUniform, Floats(cropped.GetProperty("embeddings")[0]), 1e-4f);

        var classify = await PostAsync(host, $"/api/models/{name}/classify", new { images = new[] { Convert.ToBase64String(png) } });
        var scores = Softmax(head.weights.Select((w, k) => w.Zip(expected, (a, b) => a * b).Sum() + head.bias[k]).ToArray());
        Assert.Equal(head.labels[Array.IndexOf(scores, scores.Max())], classify.GetProperty("predictions")[0].GetProperty("label").GetString());

        // A text endpoint on an image model is a clear 400.
        var wrongKind = await host.Client.PostAsJsonAsync($"/api/models/{name}/embed", new { texts = new[] { "x" } });
        Assert.Equal(HttpStatusCode.BadRequest, wrongKind.StatusCode);
    }

    [Fact]
    public async Task Refusals_are_problem_details_with_the_right_status()
    {
        var blobs = await azurite.CreateLayoutAsync();
        var name = TestRegistry.UniqueName("refuse");
        await TestRegistry.PublishTextAsync(blobs, name, "1", seed: 3);
        await using var host = await InferenceTestHost.StartAsync(blobs);

        await AssertProblemAsync(host, "/api/models/no-such-model/embed", new { texts = new[] { "a" } }, HttpStatusCode.NotFound, "no published version");
        await AssertProblemAsync(host, $"/api/models/{name}/embed?version=9", new { texts = new[] { "a" } }, HttpStatusCode.NotFound, "no version 9");
        await AssertProblemAsync(host, "/api/models/Upper-Case/embed", new { texts = new[] { "a" } }, HttpStatusCode.BadRequest, "lower-case");
        await AssertProblemAsync(host, $"/api/models/{name}/embed?version=abc", new { texts = new[] { "a" } }, HttpStatusCode.BadRequest, "positive integers");
        await AssertProblemAsync(host, $"/api/models/{name}/embed", new { texts = Array.Empty<string>() }, HttpStatusCode.BadRequest, "non-empty array");
        await AssertProblemAsync(host, $"/api/models/{name}/embed", new { texts = new[] { "  " } }, HttpStatusCode.BadRequest, "texts[0]");
        await AssertProblemAsync(host, $"/api/models/{name}/embed", new { texts = Enumerable.Repeat("a", 65).ToArray() }, HttpStatusCode.BadRequest, "at most 64");
        await AssertProblemAsync(host, $"/api/models/{name}/embed", new { texts = new[] { new string('a', 9000) } }, HttpStatusCode.RequestEntityTooLarge, "8192");
        await AssertProblemAsync(host, $"/api/models/{name}/embed", new { texts = new[] { "the cat sat on the mat and the dog ran in the park and the bird sat in the tree" }, truncate = false }, HttpStatusCode.BadRequest, "truncate");
        await AssertProblemAsync(host, $"/api/models/{name}/embed", new { texts = new[] { "a" }, extra = 1 }, HttpStatusCode.BadRequest, "extra");
        await AssertProblemAsync(host, $"/api/models/{name}/fill-mask", new { text = "no mask here" }, HttpStatusCode.BadRequest, "[MASK]");
        await AssertProblemAsync(host, $"/api/models/{name}/fill-mask", new { text = "a [MASK]", topK = 0 }, HttpStatusCode.BadRequest, "topK");
        await AssertProblemAsync(host, $"/api/models/{name}/classify", new { texts = new[] { "a" } }, HttpStatusCode.NotFound, "classifier");
        await AssertProblemAsync(host, $"/api/models/{name}/embed-image", new { images = new[] { "aGVsbG8=" } }, HttpStatusCode.BadRequest, "text model");

        using var text = new StringContent("hello", Encoding.UTF8, "text/plain");
        var unsupported = await host.Client.PostAsync($"/api/models/{name}/embed", text);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, unsupported.StatusCode);

        var describeMissing = await host.Client.GetAsync("/api/models/not-published");
        Assert.Equal(HttpStatusCode.NotFound, describeMissing.StatusCode);
    }

    internal static async Task<JsonElement> PostAsync(InferenceTestHost host, string path, object body)
    {
        var response = await host.Client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    internal static float[] Floats(JsonElement array) => array.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private static async Task AssertProblemAsync(InferenceTestHost host, string path, object body, HttpStatusCode status, string detailContains)
    {
        var response = await host.Client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{path}: expected {(int)status}, got {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Contains(detailContains, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    private static float[][] RandomRows(int rows, int columns, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, columns).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray()).ToArray();
    }

    private static float[] Softmax(float[] logits)
    {
        var max = logits.Max();
        var exp = logits.Select(x => Math.Exp(x - max)).ToArray();
        var sum = exp.Sum();
        return exp.Select(x => (float)(x / sum)).ToArray();
    }

    internal static byte[] GreyPng(int width, int height, byte[] grey)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var g = grey[(y * width) + x];
                bitmap.SetPixel(x, y, new SKColor(g, g, g, 255));
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
