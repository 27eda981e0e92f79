using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Core;

/// <summary>Shared JSON settings for every file the pipeline writes (camelCase, indented, enums as strings).</summary>
public static class PipelineJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            WriteIndented = true,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        return options;
    }
}
