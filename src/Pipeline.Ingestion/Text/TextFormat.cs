namespace Pipeline.Ingestion.Text;

/// <summary>The text upload formats: .txt .md .jsonl, each optionally gzip-compressed (.gz).</summary>
public enum TextFormat
{
    PlainText,
    Markdown,
    JsonLines,
}

/// <summary>Recognises text uploads by extension (case-insensitive).</summary>
public static class TextFormats
{
    public static IReadOnlyList<string> Extensions { get; } = [".txt", ".md", ".jsonl", ".txt.gz", ".md.gz", ".jsonl.gz"];

    public static bool TryDetect(string name, out TextFormat format, out bool gzip)
    {
        var lower = name.ToLowerInvariant();
        gzip = lower.EndsWith(".gz", StringComparison.Ordinal);
        if (gzip)
        {
            lower = lower[..^3];
        }

        format = default;
        if (lower.EndsWith(".txt", StringComparison.Ordinal))
        {
            format = TextFormat.PlainText;
            return true;
        }

        if (lower.EndsWith(".md", StringComparison.Ordinal))
        {
            format = TextFormat.Markdown;
            return true;
        }

        if (lower.EndsWith(".jsonl", StringComparison.Ordinal))
        {
            format = TextFormat.JsonLines;
            return true;
        }

        return false;
    }
}
