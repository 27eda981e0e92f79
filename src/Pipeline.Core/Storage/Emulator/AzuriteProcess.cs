using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Pipeline.Core.Storage.Emulator;

/// <summary>
/// Azurite (the Azure Storage emulator, pinned in the repository's package.json) run as a child process on free
/// loopback ports with its own data folder. Used by the local host and by the test fixtures.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    private const string AccountName = "devstoreaccount1";

    // The well-known Azurite development key: public, documented, only valid against the emulator.
    private const string AccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Process _process;
    private readonly bool _ownsDataFolder;

    private AzuriteProcess(Process process, int blobPort, int queuePort, int tablePort, string dataFolder, bool ownsDataFolder)
    {
        _process = process;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
        DataFolder = dataFolder;
        _ownsDataFolder = ownsDataFolder;
    }

    public int BlobPort { get; }

    public int QueuePort { get; }

    public int TablePort { get; }

    public string DataFolder { get; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/{AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{QueuePort}/{AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/{AccountName};";

    /// <summary>
    /// Starts Azurite. Installs the pinned version with <c>npm ci</c> first when the repository has no node_modules.
    /// </summary>
    /// <param name="dataFolder">Where Azurite keeps its data; a fresh temporary folder (deleted on dispose) when null.</param>
    /// <param name="toolRoot">The folder holding package.json; found by walking up from the app's base directory when null.</param>
    public static async Task<AzuriteProcess> StartAsync(
        string? dataFolder = null, string? toolRoot = null, int? blobPort = null, CancellationToken cancellationToken = default)
    {
        var root = toolRoot ?? FindToolRoot(AppContext.BaseDirectory) ?? FindToolRoot(Environment.CurrentDirectory)
            ?? throw new InvalidOperationException(
                "Cannot find the repository's package.json (which pins Azurite). Run from the repository, or pass a connection string instead.");
        var script = Path.Combine(root, "node_modules", "azurite", "dist", "src", "azurite.js");
        if (!File.Exists(script))
        {
            await InstallAsync(root, cancellationToken).ConfigureAwait(false);
        }

        var owns = dataFolder is null;
        var folder = dataFolder ?? Path.Combine(Path.GetTempPath(), "pipeline-azurite-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);

        for (var attempt = 0; ; attempt++)
        {
            var ports = FreePorts(blobPort is null ? 3 : 2);
            var (b, q, t) = blobPort is { } fixedPort ? (fixedPort, ports[0], ports[1]) : (ports[0], ports[1], ports[2]);
            var psi = new ProcessStartInfo("node")
            {
                WorkingDirectory = root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[]
                     {
                         script, "--silent", "--skipApiVersionCheck", "--location", folder,
                         "--blobHost", "127.0.0.1", "--blobPort", b.ToString(),
                         "--queueHost", "127.0.0.1", "--queuePort", q.ToString(),
                         "--tableHost", "127.0.0.1", "--tablePort", t.ToString(),
                     })
            {
                psi.ArgumentList.Add(arg);
            }

            var process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start node for Azurite.");
            var stderr = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
            process.OutputDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();

            var azurite = new AzuriteProcess(process, b, q, t, folder, owns);
            if (await azurite.WaitForPortsAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false))
            {
                return azurite;
            }

            await azurite.StopProcessAsync().ConfigureAwait(false);
            if (attempt >= 2)
            {
                string err;
                lock (stderr) { err = stderr.ToString(); }
                throw new InvalidOperationException($"Azurite did not start listening on 127.0.0.1:{b}. stderr: {err}");
            }
        }
    }

    /// <summary>Finds the folder (this one or above) whose package.json pins Azurite.</summary>
    public static string? FindToolRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var package = Path.Combine(dir.FullName, "package.json");
            if (File.Exists(package) && File.ReadAllText(package).Contains("\"azurite\"", StringComparison.Ordinal))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    private static async Task InstallAsync(string root, CancellationToken cancellationToken)
    {
        // A lock file makes concurrent test processes install once.
        var lockPath = Path.Combine(root, ".azurite-install.lock");
        await using var gate = await AcquireFileLockAsync(lockPath, cancellationToken).ConfigureAwait(false);
        if (File.Exists(Path.Combine(root, "node_modules", "azurite", "dist", "src", "azurite.js")))
        {
            return;
        }

        var psi = new ProcessStartInfo("npm") { WorkingDirectory = root, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "ci", "--no-audit", "--no-fund" })
        {
            psi.ArgumentList.Add(arg);
        }

        using var npm = Process.Start(psi) ?? throw new InvalidOperationException("Could not start npm to install Azurite; is Node.js installed?");
        var outputTask = npm.StandardOutput.ReadToEndAsync(cancellationToken);
        var errorTask = npm.StandardError.ReadToEndAsync(cancellationToken);
        await npm.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (npm.ExitCode != 0)
        {
            throw new InvalidOperationException($"npm ci failed ({npm.ExitCode}) installing Azurite in {root}: {await errorTask.ConfigureAwait(false)}");
        }

        await outputTask.ConfigureAwait(false);
    }

    private static async Task<FileStream> AcquireFileLockAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var l in listeners)
        {
            l.Start();
        }

        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners)
        {
            l.Stop();
        }

        return ports;
    }

    private async Task<bool> WaitForPortsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var port in new[] { BlobPort, QueuePort, TablePort })
        {
            while (true)
            {
                if (_process.HasExited)
                {
                    return false;
                }

                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    return false;
                }
            }
        }

        return true;
    }

    private async Task StopProcessAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (TimeoutException)
        {
            // Leave it; the OS reaps it with our process group.
        }

        _process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync().ConfigureAwait(false);
        if (_ownsDataFolder)
        {
            try
            {
                Directory.Delete(DataFolder, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp folder.
            }
        }
    }
}
