using System.Text.RegularExpressions;

namespace Pipeline.Inference.Registry;

/// <summary>The registry's naming rules: model names are lower-case [a-z0-9-], 3..63; versions are positive integers.</summary>
public static partial class ModelNames
{
    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    public static bool IsValidName(string? name) => name is not null && NamePattern().IsMatch(name);

    public static bool IsValidVersion(string? version) =>
        version is { Length: > 0 and <= 9 } && version.All(char.IsAsciiDigit) && version[0] != '0';

    /// <summary>Throws a 400-kind error naming the rule the model name broke.</summary>
    public static void RequireValidName(string? name)
    {
        if (!IsValidName(name))
        {
            throw InferenceException.BadRequest(
                $"Model name '{Truncate(name)}' is invalid: use 3..63 lower-case letters, digits and '-', starting and ending with a letter or digit.");
        }
    }

    public static void RequireValidVersion(string? version)
    {
        if (version is not null && !IsValidVersion(version))
        {
            throw InferenceException.BadRequest($"Version '{Truncate(version)}' is invalid: versions are positive integers (1, 2, ...).");
        }
    }

    public const string Fp32Variant = "fp32";
    public const string Int8Variant = "int8";

    /// <summary>null means fp32; the served variants are fp32 and int8.</summary>
    public static string RequireValidVariant(string? variant) => variant switch
    {
        null or "" or Fp32Variant => Fp32Variant,
        Int8Variant => Int8Variant,
        _ => throw InferenceException.BadRequest($"Variant '{Truncate(variant)}' is invalid: use fp32 (the default) or int8."),
    };

    private static string Truncate(string? value) => value is null ? "" : value.Length <= 80 ? value : value[..80] + "...";
}
