using System.CommandLine;
using System.IO.Compression;
using System.Text;
using Pipeline.Cli.Commands;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Storage;
using Pipeline.Core.Text;
using Pipeline.Testing;

namespace Pipeline.Tests.Cli;

/// <summary>`pipeline ingest` end to end against Azurite: local files uploaded, bad ones quarantined, a version sealed.</summary>
[Collection(AzuriteCollection.Name)]
public class IngestCommandTests(AzuriteFixture azurite)
{
    private static Task<int> RunAsync(params string[] args)
    {
        var root = new RootCommand { IngestCommand.Create() };
        return root.Parse(["ingest", .. args]).InvokeAsync();
    }

    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    [Fact]
    public async Task Ingest_uploads_a_folder_quarantines_bad_files_and_seals_a_version_the_encoder_agrees_with()
    {
        var service = await azurite.CreateLayoutAsync();
        var dataset = "cli" + Guid.NewGuid().ToString("N")[..8];
        var folder = Directory.CreateTempSubdirectory("ingest-cli-").FullName;
        try
        {
            var prose = string.Concat(Enumerable.Range(0, 12).Select(i => $"Paragraph {i}: the light was good,\nand the evening was day {i}.\n\n"));
            var glossary = string.Concat(Enumerable.Range(0, 30).Select(i => $"a gloss for entry number {i}\n"));
            await File.WriteAllTextAsync(Path.Combine(folder, "prose.txt"), prose);
            await File.WriteAllTextAsync(Path.Combine(folder, "glossary.txt"), glossary);
            Directory.CreateDirectory(Path.Combine(folder, "sub"));
            await File.WriteAllBytesAsync(Path.Combine(folder, "sub", "notes.md.gz"), [.. Gzip("# Notes\n\n"), .. Gzip("More notes on the light.\n")]);
            await File.WriteAllTextAsync(Path.Combine(folder, "paper.pdf"), "%PDF-1.4");
            await File.WriteAllBytesAsync(Path.Combine(folder, "empty.txt"), []);

            var code = await RunAsync(folder, "--dataset", dataset, "--connection", azurite.ConnectionString, "--vocab-size", "120", "--validation-fraction", "0.2");
            Assert.Equal(0, code);

            var datasets = service.GetBlobContainerClient(BlobLayout.Datasets);
            var manifestPath = BlobLayout.DatasetManifest(dataset, "v1");
            var manifest = (await datasets.GetBlobClient(manifestPath.Name).DownloadContentAsync()).Value.Content.ToObjectFromJson<DatasetManifest>(PipelineJson.Options)!;
            Assert.Equal(12 + 30 + 2, manifest.Documents); // paragraphs, one gloss per line, two markdown paragraphs from two gzip members
            Assert.InRange(manifest.VocabSize!.Value, 40, 120); // at most --vocab-size; fewer when merges run out of frequent pairs

            var quarantine = service.GetBlobContainerClient(BlobLayout.Quarantine);
            Assert.True((await quarantine.GetBlobClient($"{dataset}/paper.pdf.reason.json").ExistsAsync()).Value);
            Assert.True((await quarantine.GetBlobClient($"{dataset}/empty.txt.reason.json").ExistsAsync()).Value);
            Assert.True((await service.GetBlobContainerClient(BlobLayout.Unlabeled).GetBlobClient($"{dataset}/sub/notes.md.gz").ExistsAsync()).Value);

            // The shards hold what the serving-time encoder gives for the same text.
            var vocab = (await datasets.GetBlobClient(BlobPath.Parse(manifest.Vocab!).Name).DownloadContentAsync()).Value.Content.ToArray();
            var encoder = WordPieceEncoder.Load(new MemoryStream(vocab), TextNormalization.Default);
            var stored = new HashSet<string>(StringComparer.Ordinal);
            foreach (var shard in manifest.TrainShards.Concat(manifest.ValidationShards))
            {
                var data = TokenShard.Read((await datasets.GetBlobClient(BlobPath.Parse(shard.Path).Name).DownloadContentAsync()).Value.Content.ToArray());
                for (var d = 0; d < data.DocumentCount; d++)
                {
                    stored.Add(string.Join(',', data.Document(d).ToArray()));
                }
            }

            Assert.Contains(string.Join(',', encoder.EncodeToIds("a gloss for entry number 7")), stored);
            Assert.Contains(string.Join(',', encoder.EncodeToIds("More notes on the light.")), stored);

            // Re-running without paths ingests what is already uploaded; the sealed version is returned unchanged.
            Assert.Equal(0, await RunAsync("--dataset", dataset, "--connection", azurite.ConnectionString));
            var again = (await datasets.GetBlobClient(manifestPath.Name).DownloadContentAsync()).Value.Content.ToObjectFromJson<DatasetManifest>(PipelineJson.Options)!;
            Assert.Equal(manifest.CreatedUtc, again.CreatedUtc);

            Assert.Equal(2, await RunAsync(folder, "--dataset", "a/b", "--connection", azurite.ConnectionString));
            Assert.Equal(2, await RunAsync(Path.Combine(folder, "missing.txt"), "--dataset", dataset, "--connection", azurite.ConnectionString));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
