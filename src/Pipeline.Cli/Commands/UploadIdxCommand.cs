using System.CommandLine;
using Pipeline.Core.Storage;
using Pipeline.Ingestion.Images;
using Spectre.Console;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline upload-idx`: uploads an IDX image file (e.g. Fashion-MNIST) as PNG blobs under unlabeled/{dataset}/.</summary>
public static class UploadIdxCommand
{
    public const string FashionMnistTrain = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

    public static Command Create()
    {
        var images = new Option<string>("--images") { Description = "IDX image file (.gz or raw)", DefaultValueFactory = _ => FashionMnistTrain };
        var dataset = new Option<string>("--dataset") { Description = "dataset name: blobs go to unlabeled/{dataset}/", DefaultValueFactory = _ => "fashion-mnist" };
        var limit = new Option<int>("--limit") { Description = "upload at most this many images (0 = all)", DefaultValueFactory = _ => 0 };
        var prefix = new Option<string>("--prefix") { Description = "blob name prefix inside the dataset folder", DefaultValueFactory = _ => "img-" };
        var command = new Command("upload-idx", "Upload an IDX image file (Fashion-MNIST by default) as individual PNG blobs, as a user would.")
        {
            images, dataset, limit, prefix,
        };
        command.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(images)!;
            if (!File.Exists(path))
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{path} not found.[/] For Fashion-MNIST: apt-get install -y dataset-fashion-mnist");
                return 1;
            }

            var (rows, cols, pixels) = IdxImages.Read(path, parse.GetValue(limit) is > 0 and var n ? n : int.MaxValue);
            var service = StorageOptions.FromEnvironment().CreateBlobServiceClient();
            var name = parse.GetValue(dataset)!;
            await AnsiConsole.Progress().StartAsync(async progress =>
            {
                var task = progress.AddTask($"unlabeled/{name}/", maxValue: pixels.Count);
                await IdxImages.UploadAsync(service, name, parse.GetValue(prefix)!, rows, cols, pixels,
                    progress: new Progress<int>(done => task.Value = done), cancellationToken: ct);
                task.Value = pixels.Count;
            });
            AnsiConsole.MarkupLineInterpolated($"uploaded [green]{pixels.Count}[/] {rows}x{cols} PNGs to unlabeled/{name}/");
            return 0;
        });
        return command;
    }
}
