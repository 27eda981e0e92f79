using System.Text.Json.Nodes;
using Pipeline.Tests.Infra.Arm;

namespace Pipeline.Tests.Infra;

/// <summary>infra/main.bicep compiled once per test class by the real Bicep compiler, expandable with chosen parameters.</summary>
public sealed class MainTemplate
{
    public MainTemplate()
    {
        (Template, Diagnostics) = BicepCompiler.Build("infra/main.bicep");
    }

    public JsonObject Template { get; }

    /// <summary>Everything the compiler printed (warnings included); empty for a clean build.</summary>
    public string Diagnostics { get; }

    /// <summary>The resources a deployment with these parameters creates (environmentName and location preset).</summary>
    public IReadOnlyList<DeployedResource> Deploy(params (string Name, object? Value)[] parameters)
    {
        var values = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase)
        {
            ["environmentName"] = "ci",
            ["location"] = "swedencentral",
        };
        foreach (var (name, value) in parameters)
        {
            values[name] = value;
        }

        return ArmDeployment.Expand(Template, values);
    }
}

/// <summary>Reading helpers over expanded resources.</summary>
public static class DeployedResources
{
    public static DeployedResource Single(this IReadOnlyList<DeployedResource> resources, string type) =>
        Assert.Single(resources, r => string.Equals(r.Type, type, StringComparison.OrdinalIgnoreCase));

    public static IReadOnlyList<DeployedResource> OfType(this IReadOnlyList<DeployedResource> resources, string type) =>
        resources.Where(r => string.Equals(r.Type, type, StringComparison.OrdinalIgnoreCase)).ToList();

    /// <summary>The Function App's app settings by name.</summary>
    public static Dictionary<string, object?> AppSettings(this IReadOnlyList<DeployedResource> resources) =>
        ((List<object?>)resources.Single("Microsoft.Web/sites").Get("properties", "siteConfig", "appSettings")!)
        .Cast<Dictionary<string, object?>>()
        .ToDictionary(s => (string)s["name"]!, s => s["value"], StringComparer.Ordinal);

    /// <summary>A value as text, known or not (Unresolved values give their expression).</summary>
    public static string Text(object? value) => value switch
    {
        null => string.Empty,
        Unresolved u => u.Text,
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty,
    };
}
