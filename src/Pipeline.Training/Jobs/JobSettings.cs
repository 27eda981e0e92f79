using System.Text.Json;

namespace Pipeline.Training.Jobs;

/// <summary>Settings every objective shares, read from the spec's Settings object.</summary>
public sealed record JobSettings
{
    /// <summary>Wall-clock limit for training in minutes: training stops there and the job still exports. Null or 0: none.</summary>
    public double? MaxMinutes { get; init; }

    public static JobSettings From(JsonElement? settings)
    {
        if (settings is not { ValueKind: JsonValueKind.Object } s)
        {
            return new JobSettings();
        }

        foreach (var p in s.EnumerateObject())
        {
            if (string.Equals(p.Name, "maxMinutes", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.Number)
            {
                var minutes = p.Value.GetDouble();
                if (minutes < 0)
                {
                    throw new ArgumentException($"Settings.maxMinutes is {minutes}; use a positive number of minutes, or 0/omit for no limit.");
                }

                return new JobSettings { MaxMinutes = minutes > 0 ? minutes : null };
            }
        }

        return new JobSettings();
    }
}
