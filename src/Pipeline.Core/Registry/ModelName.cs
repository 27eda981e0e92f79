using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Core.Registry;

/// <summary>Validates registry model names and versions before they become blob paths (no traversal, bounded).</summary>
public static partial class ModelName
{
    public const int MinLength = 3;
    public const int MaxLength = 63;

    /// <summary>The alias a caller may pass instead of a version number.</summary>
    public const string Latest = "latest";

    /// <summary>Lower-case letters, digits and '-', 3..63 characters, starting and ending with a letter or digit.</summary>
    public static string Validate(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("Model name is empty; use lower-case letters, digits and '-' (3..63 characters).", nameof(name));
        }

        if (name.Length is < MinLength or > MaxLength || !NamePattern().IsMatch(name))
        {
            throw new ArgumentException(
                $"Model name '{Shorten(name)}' is invalid: use {MinLength}..{MaxLength} lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. 'wordnet-mlm').",
                nameof(name));
        }

        return name;
    }

    public static bool IsValid(string? name) => name is { Length: >= MinLength and <= MaxLength } && NamePattern().IsMatch(name);

    /// <summary>A registry version: a positive integer without leading zeros ("1", "2", ...); returns its value.</summary>
    public static int ParseVersion(string? version)
    {
        if (string.IsNullOrEmpty(version) || version.Length > 9 || version[0] == '0' || !version.All(char.IsAsciiDigit))
        {
            throw new ArgumentException($"Model version '{Shorten(version ?? "")}' is invalid: versions are positive integers assigned by the registry (1, 2, ...), or '{Latest}'.", nameof(version));
        }

        return int.Parse(version, NumberStyles.None, CultureInfo.InvariantCulture);
    }

    public static bool TryParseVersion(string? version, out int value)
    {
        value = 0;
        if (string.IsNullOrEmpty(version) || version.Length > 9 || version[0] == '0' || !version.All(char.IsAsciiDigit))
        {
            return false;
        }

        value = int.Parse(version, NumberStyles.None, CultureInfo.InvariantCulture);
        return true;
    }

    private static string Shorten(string value) => value.Length <= 80 ? value : value[..80] + "...";

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
