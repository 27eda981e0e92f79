using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using Pipeline.Testing;

namespace Pipeline.Tests.Infra;

/// <summary>Runs the Bicep compiler from the NuGet package the test project references (path baked in at build time).</summary>
public static class BicepCompiler
{
    /// <summary>Where the build put the bicep executable (Azure.Bicep.CommandLine.linux-x64, tools/bicep).</summary>
    public static string Executable { get; } = typeof(BicepCompiler).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "BicepExecutable").Value
        ?? throw new InvalidOperationException("The test assembly has no BicepExecutable metadata; rebuild tests/Pipeline.Tests.");

    /// <summary>Compiles a .bicep file (relative to the repository root) and returns the ARM template and the compiler's diagnostics.</summary>
    public static (JsonObject Template, string Diagnostics) Build(string bicepFile)
    {
        using var output = new TempDirectory();
        var outFile = Path.Combine(output.Path, "template.json");
        var (exitCode, diagnostics) = Run("build", RepositoryPaths.Combine(bicepFile), "--outfile", outFile);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"bicep build {bicepFile} failed ({exitCode}):\n{diagnostics}");
        }

        return ((JsonObject)JsonNode.Parse(File.ReadAllText(outFile))!, diagnostics);
    }

    /// <summary>Runs the compiler with these arguments from the repository root; returns its exit code and all it printed.</summary>
    public static (int ExitCode, string Output) Run(params string[] arguments)
    {
        if (!File.Exists(Executable))
        {
            throw new FileNotFoundException($"The Bicep compiler is not at {Executable}: restore tests/Pipeline.Tests (package Azure.Bicep.CommandLine.linux-x64).");
        }

        var start = new ProcessStartInfo(Executable)
        {
            WorkingDirectory = RepositoryPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The compiler needs no telemetry and no network (no registry modules are used).
        start.Environment["BICEP_TELEMETRY_ENABLED"] = "false";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bicep {string.Join(' ', arguments)} did not finish in 3 minutes.");
        }

        return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
    }
}
