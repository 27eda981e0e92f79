using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Hashing;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Pipeline.Testing;

namespace Pipeline.Tests.Inference;

[Collection(AzuriteCollection.Name)]
[Trait("Category", "Robustness")]
public class InferenceRobustnessTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Malformed_requests_from_32_concurrent_clients_never_get_a_5xx_and_the_service_stays_up()
    {
        var blobs = await azurite.CreateLayoutAsync();
        var text = TestRegistry.UniqueName("robust-text");
        var image = TestRegistry.UniqueName("robust-image");
        await TestRegistry.PublishTextAsync(blobs, text, "1", seed: 41);
        await TestRegistry.PublishAsync(blobs, image, "1", new Dictionary<string, byte[]>
        {
            ["encoder.onnx"] = TinyOnnxModels.ImageEncoder(1, 8, 8, 4, seed: 2),
            ["preprocessing.json"] = Encoding.UTF8.GetBytes("""{"channels":1,"height":8,"width":8,"imageMean":[0.5],"imageStd":[0.5]}"""),
        });
        await using var host = await InferenceTestHost.StartAsync(blobs, o => o with { IntraOpThreads = 1 });

        // Every crafted case twice (cached and cold paths), then seeded random mutations of valid bodies.
        var cases = Cases(text, image).Concat(Cases(text, image)).ToList();
        var rng = new Random(1234);
        (string Path, string Body)[] valid =
        [
            ($"/api/models/{text}/embed", """{"texts":["the cat sat on the mat","a blue bird"],"normalize":true}"""),
            ($"/api/models/{text}/fill-mask", """{"text":"the cat [MASK] on the mat","topK":3}"""),
            ($"/api/models/{text}/similarity", """{"query":"the cat","candidates":["a dog","the sea"],"topK":1}"""),
        ];
        for (var i = 0; i < 900; i++)
        {
            var (path, body) = valid[i % valid.Length];
            cases.Add(Json(path, Mutate(body, rng)));
        }

        Assert.True(cases.Count >= 1000, $"only {cases.Count} cases");
        var queue = new ConcurrentQueue<RequestCase>(cases);
        var statuses = new ConcurrentDictionary<int, int>();
        var serverErrors = new ConcurrentBag<string>();
        GC.Collect();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();

        var clients = Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            while (queue.TryDequeue(out var c))
            {
                using var request = c.Build();
                using var response = await host.Client.SendAsync(request);
                var status = (int)response.StatusCode;
                statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                if (status >= 500)
                {
                    serverErrors.Add($"{c.Label}: {status} {await response.Content.ReadAsStringAsync()}");
                }
            }
        })).ToList();
        await Task.WhenAll(clients);
        clock.Stop();

        Assert.True(serverErrors.IsEmpty, string.Join("\n", serverErrors.Take(10)));
        Assert.Equal(cases.Count, statuses.Values.Sum());
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 4, $"expected a spread of refusals: {string.Join(", ", statuses)}");

        // Still serving, and the memory the flood left behind is bounded (no buffers kept per request).
        var after = await InferenceEndpointTests.PostAsync(host, $"/api/models/{text}/embed", new { texts = new[] { "still alive" } });
        Assert.Equal("1", after.GetProperty("version").GetString());
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(memoryAfter - memoryBefore < 64L << 20, $"managed memory grew by {(memoryAfter - memoryBefore) >> 20} MB");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the flood took {clock.Elapsed}");
    }

    private static IEnumerable<RequestCase> Cases(string text, string image)
    {
        var embed = $"/api/models/{text}/embed";
        string[] badJson =
        [
            "", "{", "}", "[", "null", "123", "\"texts\"", "{}", "[]", "{\"texts\":", "{\"texts\":[", "{'texts':['a']}",
            "{\"texts\":5}", "{\"texts\":[1,2]}", "{\"texts\":[null]}", "{\"texts\":[[]]}", "{\"texts\":[{}]}", "{\"texts\":\"a\"}",
            "{\"texts\":[\"a\"],\"normalize\":\"yes\"}", "{\"texts\":[\"a\"],\"truncate\":null}", "{\"texts\":[\"a\"],\"unknown\":1}",
            "{\"texts\":[\"\\ud800\"]}", "{\"texts\":[\"\\udfff x\"]}", "{\"texts\":[\"a\"]} trailing", "{\"texts\":[\"a\",]}",
            "{\"texts\":[\"\"]}", "{\"texts\":[\"   \"]}", "{\"texts\":[]}", "{\"texts\":[\"a\"],\"texts\":[\"b\"]}",
            new string('[', 5000) + new string(']', 5000), "{\"texts\":[\"" + new string('x', 100_000) + "\"]}",
            "{\"texts\":[" + string.Join(',', Enumerable.Repeat("\"a\"", 5000)) + "]}",
            "{\"texts\":[\"a\"],\"normalize\":1e999}", "{\"texts\":[\"a\"]}\u0000",
        ];
        foreach (var body in badJson)
        {
            yield return Json(embed, body);
        }

        // Odd but valid Unicode: must not break tokenisation (answers 200).
        string[] oddText =
        [
            "\u200d\u200d\u200d", "e\u0301\u0301\u0301\u0301\u0301", "\u202eevil\u202c", "\ufeffbom", "\u0000nul\u0001", "😀🙃 emoji",
            "ｆｕｌｌ ｗｉｄｔｈ", "ﬁ ligature", string.Concat(Enumerable.Repeat("\u0301", 5000)), "a\tb\nc\rd", "日本語のテキスト",
            string.Join(' ', Enumerable.Repeat("superlongwordthatisnotinthevocabularyatall", 150)), "[MASK] [CLS] [SEP] [PAD]",
        ];
        foreach (var t in oddText)
        {
            yield return Json(embed, System.Text.Json.JsonSerializer.Serialize(new { texts = new[] { t } }));
        }

        yield return new RequestCase("invalid utf-8", () => new HttpRequestMessage(HttpMethod.Post, embed)
        {
            Content = new ByteArrayContent([(byte)'{', (byte)'"', (byte)'t', (byte)'e', (byte)'x', (byte)'t', (byte)'s', (byte)'"', (byte)':', (byte)'[', (byte)'"', 0xff, 0xfe, (byte)'"', (byte)']', (byte)'}'])
            {
                Headers = { ContentType = new MediaTypeHeaderValue("application/json") },
            },
        });
        yield return new RequestCase("2 MB body", () => new HttpRequestMessage(HttpMethod.Post, embed) { Content = Content(new string(' ', 2 << 20)) });
        yield return new RequestCase("text/plain", () => new HttpRequestMessage(HttpMethod.Post, embed) { Content = new StringContent("the cat", Encoding.UTF8, "text/plain") });
        yield return new RequestCase("GET on POST", () => new HttpRequestMessage(HttpMethod.Get, embed));

        // Names, versions, routes.
        foreach (var path in new[]
        {
            "/api/models/UPPER/embed", "/api/models/ab/embed", "/api/models/-abc/embed", "/api/models/a_b_c/embed", "/api/models/%2e%2e%2fetc/embed",
            "/api/models/" + new string('a', 300) + "/embed", "/api/models/caf%C3%A9/embed", "/api/models/no-such-model/embed",
            $"{embed}?version=0", $"{embed}?version=-1", $"{embed}?version=99999999999", $"{embed}?version=1&version=2", $"{embed}?version=7",
            $"/api/models/{text}/nothing",
        })
        {
            yield return Json(path, "{\"texts\":[\"a\"]}");
        }

        // Other endpoints with bad input.
        yield return Json($"/api/models/{text}/fill-mask", "{\"text\":\"no mask\"}");
        yield return Json($"/api/models/{text}/fill-mask", "{\"text\":\"" + string.Concat(Enumerable.Repeat("[MASK]", 40)) + "\"}");
        yield return Json($"/api/models/{text}/fill-mask", "{\"text\":\"" + string.Concat(Enumerable.Repeat("cat ", 200)) + "[MASK]\"}");
        yield return Json($"/api/models/{text}/fill-mask", "{\"text\":\"a [MASK]\",\"topK\":100000}");
        yield return Json($"/api/models/{text}/fill-mask", "{\"text\":\"a [MASK]\",\"topK\":-1}");
        yield return Json($"/api/models/{text}/similarity", "{\"query\":\"a\"}");
        yield return Json($"/api/models/{text}/similarity", "{\"query\":\"a\",\"candidates\":[],\"topK\":3}");
        yield return Json($"/api/models/{text}/similarity", "{\"query\":\"a\",\"candidates\":[\"b\"],\"topK\":0}");
        yield return Json($"/api/models/{text}/classify", "{\"texts\":[\"a\"]}");
        yield return Json($"/api/models/{text}/embed-image", "{\"images\":[\"aGVsbG8=\"]}");

        // Bad images.
        var imagePath = $"/api/models/{image}/embed-image";
        var png = InferenceEndpointTests.GreyPng(8, 8, new byte[64]);
        byte[][] badImages =
        [
            [], [1, 2, 3], Encoding.ASCII.GetBytes("GIF89a...."), png[..(png.Length / 2)], png[..33], HugePngHeader(50_000, 50_000),
            HugePngHeader(4000, 4000), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], [0xFF, 0xD8, 0xFF, 0xE0, 0, 0], new byte[5 << 20],
        ];
        foreach (var bytes in badImages)
        {
            yield return new RequestCase($"image {bytes.Length} bytes", () => new HttpRequestMessage(HttpMethod.Post, imagePath)
            {
                Content = new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } },
            });
            yield return Json(imagePath, System.Text.Json.JsonSerializer.Serialize(new { images = new[] { Convert.ToBase64String(bytes) } }));
        }

        foreach (var body in new[] { "{\"images\":[\"!!!not base64\"]}", "{\"images\":[null]}", "{\"images\":[]}", "{\"images\":\"x\"}", "{\"images\":[\"data:image/png;base64,@@\"]}" })
        {
            yield return Json(imagePath, body);
        }

        yield return Json($"/api/models/{image}/embed", "{\"texts\":[\"a\"]}");
        yield return Json($"/api/models/{image}/classify", "{\"images\":[\"" + Convert.ToBase64String(png) + "\"]}");
    }

    /// <summary>A PNG signature and IHDR chunk declaring a huge image, with no pixel data (a decompression bomb's header).</summary>
    private static byte[] HugePngHeader(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 0; // grey
        var chunk = new List<byte>();
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, ihdr.Length);
        var typeAndData = Encoding.ASCII.GetBytes("IHDR").Concat(ihdr).ToArray();
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.HashToUInt32(typeAndData));
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. length, .. typeAndData, .. crc];
    }

    private static string Mutate(string json, Random rng)
    {
        var chars = json.ToCharArray().ToList();
        var edits = rng.Next(1, 4);
        for (var e = 0; e < edits && chars.Count > 0; e++)
        {
            var at = rng.Next(chars.Count);
            switch (rng.Next(4))
            {
                case 0:
                    chars.RemoveAt(at);
                    break;
                case 1:
                    const string Noise = "{}[]\",:\\u0aZ\u00e9\ud83d";
                    chars.Insert(at, Noise[rng.Next(Noise.Length)]);
                    break;
                case 2:
                    chars[at] = (char)rng.Next(0, 0x3000);
                    break;
                default:
                    chars.InsertRange(at, json.Substring(rng.Next(json.Length / 2), rng.Next(1, json.Length / 2)));
                    break;
            }
        }

        return new string(chars.ToArray());
    }

    private static RequestCase Json(string path, string body) =>
        new($"{path} {body[..Math.Min(body.Length, 60)]}", () => new HttpRequestMessage(HttpMethod.Post, path) { Content = Content(body) });

    private static ByteArrayContent Content(string body) =>
        new(Encoding.UTF8.GetBytes(body)) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };

    private sealed record RequestCase(string Label, Func<HttpRequestMessage> Build);
}
