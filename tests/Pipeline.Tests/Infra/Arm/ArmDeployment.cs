using System.Text.Json.Nodes;

namespace Pipeline.Tests.Infra.Arm;

/// <summary>One resource a deployment would create, with every expression evaluated as far as a template can be.</summary>
/// <param name="Deployment">Nested deployment path ("" for the top level, "access" for the access module).</param>
/// <param name="Type">Resource type, e.g. Microsoft.App/jobs.</param>
/// <param name="Body">The evaluated resource declaration (name, properties, scope ...).</param>
/// <param name="Condition">The evaluated condition: true when unconditional, or Unresolved when only Azure knows.</param>
public sealed record DeployedResource(string Deployment, string Type, IReadOnlyDictionary<string, object?> Body, object? Condition)
{
    public object? Name => Body.GetValueOrDefault("name");

    /// <summary>The value at a property path, e.g. Get("properties", "configuration", "replicaTimeout").</summary>
    public object? Get(params string[] path)
    {
        object? current = Body;
        foreach (var segment in path)
        {
            current = current is Dictionary<string, object?> obj && obj.TryGetValue(segment, out var next)
                ? next
                : throw new KeyNotFoundException($"{Type} in '{Deployment}' has no '{string.Join('.', path)}' (missing '{segment}').");
        }

        return current;
    }

    public override string ToString() => $"{Deployment}:{Type}:{Name}";
}

/// <summary>Expands a compiled template (nested module deployments, copy loops, conditions) into the resources it deploys.</summary>
public static class ArmDeployment
{
    private const string DeploymentType = "Microsoft.Resources/deployments";

    /// <summary>The resources <paramref name="template"/> deploys with these top-level parameter values.</summary>
    public static IReadOnlyList<DeployedResource> Expand(JsonObject template, IReadOnlyDictionary<string, object?> parameters)
    {
        var result = new List<DeployedResource>();
        Expand(new ArmScope(template, parameters), string.Empty, result);
        return result;
    }

    private static void Expand(ArmScope scope, string deployment, List<DeployedResource> result)
    {
        var resources = scope.Template["resources"] switch
        {
            JsonArray array => array.OfType<JsonObject>(),
            // languageVersion 2.0 keys resources by symbolic name.
            JsonObject byName => byName.Select(p => p.Value).OfType<JsonObject>(),
            _ => [],
        };

        foreach (var resource in resources)
        {
            if (resource["existing"]?.GetValue<bool>() == true)
            {
                continue;
            }

            if (resource["copy"] is JsonObject copy)
            {
                var count = (long)scope.Evaluate(copy["count"])!;
                for (var i = 0; i < count; i++)
                {
                    ExpandOne(scope.WithCopyIndex(i), resource, deployment, result);
                }
            }
            else
            {
                ExpandOne(scope, resource, deployment, result);
            }
        }
    }

    private static void ExpandOne(ArmScope scope, JsonObject resource, string deployment, List<DeployedResource> result)
    {
        var condition = resource.TryGetPropertyValue("condition", out var conditionNode) ? scope.Evaluate(conditionNode) : true;
        if (condition is false)
        {
            return;
        }

        var type = resource["type"]!.GetValue<string>();
        if (!string.Equals(type, DeploymentType, StringComparison.OrdinalIgnoreCase))
        {
            result.Add(new DeployedResource(deployment, type, (Dictionary<string, object?>)scope.Evaluate(resource)!, condition));
            return;
        }

        // A module: its template is evaluated in its own ("inner") scope, with the parameters the parent passes.
        var properties = (JsonObject)resource["properties"]!;
        var name = scope.Evaluate(resource["name"])?.ToString() ?? "?";
        var path = deployment.Length == 0 ? name : $"{deployment}/{name}";
        var header = new JsonObject
        {
            ["type"] = type,
            ["name"] = resource["name"]?.DeepClone(),
            ["scope"] = resource["scope"]?.DeepClone(),
            ["resourceGroup"] = resource["resourceGroup"]?.DeepClone(),
        };
        result.Add(new DeployedResource(deployment, type, (Dictionary<string, object?>)scope.Evaluate(header)!, condition));

        var innerParameters = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        if (properties["parameters"] is JsonObject passed)
        {
            foreach (var (parameter, value) in passed)
            {
                innerParameters[parameter] = scope.Evaluate(value?["value"]);
            }
        }

        Expand(new ArmScope((JsonObject)properties["template"]!, innerParameters), path, result);
    }
}
