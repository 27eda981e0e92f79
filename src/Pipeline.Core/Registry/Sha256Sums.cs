using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Core.Registry;

/// <summary>The SHA256SUMS file of a model version, in `sha256sum` format so `sha256sum -c SHA256SUMS` verifies a download.</summary>
public static class Sha256Sums
{
    public const string FileName = "SHA256SUMS";

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Format(IReadOnlyDictionary<string, string> hashesByFile)
    {
        var builder = new StringBuilder();
        foreach (var (file, hash) in hashesByFile.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            builder.Append(hash).Append("  ").Append(file).Append('\n');
        }

        return builder.ToString();
    }

    public static IReadOnlyDictionary<string, string> Parse(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var space = line.IndexOf(' ');
            if (space != 64)
            {
                throw new InvalidDataException($"{FileName} line '{line}' is not '<sha256>  <file>'.");
            }

            result[line[(space + 1)..].TrimStart(' ', '*')] = line[..space];
        }

        return result;
    }
}
