using System.Diagnostics;
using Pipeline.Testing;

namespace Pipeline.Tests.Evaluation;

/// <summary>Builds tiny real ONNX encoders with Debian's python3-onnx (tests/run installs it) via tiny_encoders.py.</summary>
internal static class TinyEncoders
{
    public static void WriteText(string directory, IEnumerable<string> vocab, int dims, int classes, int wordsPerClass)
    {
        File.WriteAllLines(Path.Combine(directory, "vocab.txt"), vocab);
        Run("text", directory, dims, classes, wordsPerClass);
    }

    public static void WriteImage(string directory, int side, int dims) => Run("image", directory, side, dims);

    private static void Run(string mode, string directory, params int[] numbers)
    {
        var script = RepositoryPaths.Combine("tests", "Pipeline.Tests", "Evaluation", "tiny_encoders.py");
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { script, mode, directory }.Concat(numbers.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture))))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(60_000))
        {
            process.Kill();
            throw new TimeoutException("tiny_encoders.py did not finish within 60 s.");
        }

        Assert.True(process.ExitCode == 0, $"tiny_encoders.py failed (is python3-onnx installed?): {stderr.Result}");
    }
}
