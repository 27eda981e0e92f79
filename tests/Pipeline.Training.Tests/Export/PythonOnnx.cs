using System.Diagnostics;

namespace Pipeline.Training.Tests.Export;

/// <summary>Runs Debian's /usr/bin/python3 with python3-onnx (installed by tests/run) on an exported file.</summary>
internal static class PythonOnnx
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Runs a Python snippet with the given arguments; returns (exit code, stdout + stderr).</summary>
    public static (int ExitCode, string Output) Run(string script, params string[] args)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Python}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("python3 did not finish within 120 s.");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>onnx.checker.check_model(full_check=True): structure, opset schemas and strict shape inference.</summary>
    public static (int ExitCode, string Output) Check(string path) => Run(
        """
        import sys, onnx
        model = onnx.load(sys.argv[1])
        onnx.checker.check_model(model, full_check=True)
        print("ok ir", model.ir_version, "opset", model.opset_import[0].version)
        """,
        path);
}
