using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;

namespace Pipeline.Inference.Sessions;

/// <summary>
/// Creates ONNX Runtime sessions tuned for serving: every graph optimisation, a fixed intra-op thread count, one
/// inter-op thread (the graphs are sequential), and ORT's optimised graph saved beside the model so the next process
/// skips the optimisation passes (keyed by the model's hash, so a changed file never reuses a stale graph).
/// </summary>
public static class OnnxSessions
{
    public static InferenceSession Create(string modelPath, InferenceOptions options)
    {
        var optimizedPath = options.CacheOptimizedModels ? OptimizedPath(modelPath) : null;
        if (optimizedPath is not null && File.Exists(optimizedPath))
        {
            try
            {
                // Already optimised offline: a second pass would only repeat work.
                return new InferenceSession(optimizedPath, CreateOptions(options, GraphOptimizationLevel.ORT_DISABLE_ALL, null));
            }
            catch (OnnxRuntimeException)
            {
                File.Delete(optimizedPath);
            }
        }

        var temp = optimizedPath is null ? null : $"{optimizedPath}.{Guid.NewGuid():N}.tmp";
        var session = new InferenceSession(modelPath, CreateOptions(options, GraphOptimizationLevel.ORT_ENABLE_ALL, temp));
        if (temp is not null && File.Exists(temp))
        {
            try
            {
                File.Move(temp, optimizedPath!, overwrite: true);
            }
            catch (IOException)
            {
                File.Delete(temp);
            }
        }

        return session;
    }

    private static SessionOptions CreateOptions(InferenceOptions options, GraphOptimizationLevel level, string? saveOptimizedTo)
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = level,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
            EnableCpuMemArena = true,
            EnableMemoryPattern = true,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        if (saveOptimizedTo is not null)
        {
            so.OptimizedModelFilePath = saveOptimizedTo;
        }

        return so;
    }

    private static string OptimizedPath(string modelPath)
    {
        using var stream = File.OpenRead(modelPath);
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
        return Path.Combine(Path.GetDirectoryName(modelPath)!, $"{Path.GetFileNameWithoutExtension(modelPath)}.{hash}.ort-opt.onnx");
    }
}
