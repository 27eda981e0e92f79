using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Pipeline.Tests.Infra.Arm;

/// <summary>
/// Evaluates the expressions of one (nested) ARM template with given parameter values, the way Azure Resource
/// Manager would, for the functions the compiled Bicep uses. Whatever only Azure can know (reference(), uniqueString(),
/// listKeys() ...) stays an <see cref="Unresolved"/> carrying its expression text, so tests can still see what it refers to.
/// Values: string, long, bool, null, Dictionary (case-insensitive keys), List, Unresolved, ResourceRef.
/// </summary>
public sealed partial class ArmScope
{
    private readonly JsonObject _template;
    private readonly IReadOnlyDictionary<string, object?> _parameters;
    private readonly Dictionary<string, object?> _variables;
    private readonly int? _copyIndex;
    private readonly IReadOnlyDictionary<string, int> _namedCopyIndices;

    public ArmScope(JsonObject template, IReadOnlyDictionary<string, object?> parameters)
        : this(template, parameters, new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase), null, new Dictionary<string, int>())
    {
    }

    private ArmScope(
        JsonObject template,
        IReadOnlyDictionary<string, object?> parameters,
        Dictionary<string, object?> variables,
        int? copyIndex,
        IReadOnlyDictionary<string, int> namedCopyIndices)
    {
        _template = template;
        _parameters = parameters;
        _variables = variables;
        _copyIndex = copyIndex;
        _namedCopyIndices = namedCopyIndices;
    }

    public JsonObject Template => _template;

    /// <summary>The same scope inside iteration <paramref name="index"/> of a resource copy loop.</summary>
    public ArmScope WithCopyIndex(int index) => new(_template, _parameters, _variables, index, _namedCopyIndices);

    private ArmScope WithNamedCopyIndex(string loop, int index) =>
        new(_template, _parameters, _variables, _copyIndex, new Dictionary<string, int>(_namedCopyIndices, StringComparer.OrdinalIgnoreCase) { [loop] = index });

    /// <summary>Converts template JSON to a value, evaluating every "[...]" string (object keys included).</summary>
    public object? Evaluate(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => EvaluateObject(obj),
        JsonArray array => array.Select(Evaluate).ToList(),
        JsonValue value => value.GetValueKind() switch
        {
            JsonValueKind.String => EvaluateString(value.GetValue<string>()),
            // Integers stay long (the conditional must not widen them to double).
            JsonValueKind.Number => value.TryGetValue(out long l) ? (object)l : value.GetValue<double>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        },
        _ => throw new InvalidOperationException($"Unexpected JSON node {node}"),
    };

    public object? Evaluate(ArmExpression expression) => expression switch
    {
        ArmExpression.Literal literal => literal.Value,
        ArmExpression.Member member => Member(member),
        ArmExpression.Index index => IndexInto(index),
        ArmExpression.Call call => Call(call),
        _ => throw new InvalidOperationException($"Unexpected expression {expression}"),
    };

    private Dictionary<string, object?> EvaluateObject(JsonObject obj)
    {
        var result = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in obj)
        {
            // A property copy loop ("copy": [{ name, count, input }]) builds the property "name" as an array.
            if (key == "copy" && value is JsonArray loops)
            {
                foreach (var loop in loops.OfType<JsonObject>())
                {
                    var name = loop["name"]!.GetValue<string>();
                    var count = (long)Evaluate(loop["count"])!;
                    result[name] = Enumerable.Range(0, (int)count).Select(i => WithNamedCopyIndex(name, i).Evaluate(loop["input"])).ToList();
                }

                continue;
            }

            result[Evaluate(JsonValue.Create(key))?.ToString() ?? key] = Evaluate(value);
        }

        return result;
    }

    /// <summary>The value a parameter has in this scope: the one passed in, else its default.</summary>
    public object? Parameter(string name)
    {
        if (_parameters.TryGetValue(name, out var value))
        {
            return value;
        }

        var declaration = (_template["parameters"] as JsonObject)?[name] as JsonObject
            ?? throw new KeyNotFoundException($"The template declares no parameter '{name}'.");
        if (!declaration.TryGetPropertyValue("defaultValue", out var defaultValue))
        {
            throw new KeyNotFoundException($"Parameter '{name}' has no value and no default.");
        }

        return Evaluate(defaultValue);
    }

    private object? EvaluateString(string value)
    {
        if (ArmExpression.IsExpression(value))
        {
            return Evaluate(ArmExpression.Parse(value));
        }

        // "[[" escapes a literal leading bracket.
        return value.StartsWith("[[", StringComparison.Ordinal) ? value[1..] : value;
    }

    private object? Variable(string name)
    {
        if (_variables.TryGetValue(name, out var cached))
        {
            return cached;
        }

        var declaration = (_template["variables"] as JsonObject)?[name]
            ?? throw new KeyNotFoundException($"The template declares no variable '{name}'.");
        var value = Evaluate(declaration);
        _variables[name] = value;
        return value;
    }

    private object? Member(ArmExpression.Member member)
    {
        var target = Evaluate(member.Target);
        return target switch
        {
            Dictionary<string, object?> obj => obj.TryGetValue(member.Name, out var value)
                ? value
                : throw new KeyNotFoundException($"No property '{member.Name}' in [{member.Text}]."),
            Unresolved => new Unresolved(member.Text),
            _ => throw new InvalidOperationException($"Cannot read '{member.Name}' of {target ?? "null"} in [{member.Text}]."),
        };
    }

    private object? IndexInto(ArmExpression.Index index)
    {
        var target = Evaluate(index.Target);
        var key = Evaluate(index.Key);
        return (target, key) switch
        {
            (Unresolved, _) or (_, Unresolved) => new Unresolved(index.Text),
            (List<object?> list, long i) => list[(int)i],
            (Dictionary<string, object?> obj, string name) => obj.TryGetValue(name, out var value)
                ? value
                : throw new KeyNotFoundException($"No key '{name}' in [{index.Text}]."),
            _ => throw new InvalidOperationException($"Cannot index {target ?? "null"} by {key ?? "null"} in [{index.Text}]."),
        };
    }

    private object? Call(ArmExpression.Call call)
    {
        var name = call.Name.ToLowerInvariant();
        switch (name)
        {
            case "parameters":
                return Parameter(RequireString(Evaluate(call.Arguments[0]), call));
            case "variables":
                return Variable(RequireString(Evaluate(call.Arguments[0]), call));
            case "copyindex":
                // copyIndex(), copyIndex(offset), copyIndex('loop') or copyIndex('loop', offset).
                var offset = call.Arguments.Count > 0 && Evaluate(call.Arguments[^1]) is long n ? n : 0;
                int? index = call.Arguments.Count > 0 && Evaluate(call.Arguments[0]) is string loop
                    ? _namedCopyIndices.TryGetValue(loop, out var named) ? named : null
                    : _copyIndex;
                return (index ?? throw new InvalidOperationException($"[{call.Text}] outside its copy loop.")) + offset;
            case "if":
                return Evaluate(call.Arguments[0]) switch
                {
                    true => Evaluate(call.Arguments[1]),
                    false => Evaluate(call.Arguments[2]),
                    _ => new Unresolved(call.Text),
                };
        }

        var args = call.Arguments.Select(Evaluate).ToList();
        if (name is "resourceid" or "subscriptionresourceid" or "extensionresourceid" or "tenantresourceid")
        {
            return ResourceId(args, call);
        }

        // Containers may hold values only Azure knows; they stay containers.
        switch (name)
        {
            case "createarray":
                return args;
            case "createobject":
                return Enumerable.Range(0, args.Count / 2)
                    .ToDictionary(i => RequireString(args[2 * i], call), i => args[(2 * i) + 1], StringComparer.OrdinalIgnoreCase);
            case "concat" when args.All(a => a is List<object?>):
                return args.SelectMany(a => (List<object?>)a!).ToList();
            case "union" when args.All(a => a is Dictionary<string, object?> or List<object?>):
                return Union(args);
            case "items" when args[0] is Dictionary<string, object?> obj:
                // items() lists an object's properties as { key, value }, sorted by key.
                return obj.OrderBy(p => p.Key, StringComparer.Ordinal)
                    .Select(p => (object?)new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase) { ["key"] = p.Key, ["value"] = p.Value })
                    .ToList();
            case "length" when args[0] is List<object?> or Dictionary<string, object?>:
                return args[0] is List<object?> list ? (long)list.Count : (long)((Dictionary<string, object?>)args[0]!).Count;
        }

        if (name is "format" or "concat" && args.Any(a => a is Unresolved) && args.All(a => a is not List<object?>))
        {
            // Keep what is known: format('https://{0}/x?code={1}', <host>, <key>) becomes "https://⟨host⟩/x?code=⟨key⟩".
            var rendered = args.Select(a => a is Unresolved u ? $"⟨{u.Text}⟩" : a).ToList();
            return new Unresolved(name == "format"
                ? Format(RequireString(rendered[0], call), rendered.Skip(1).ToList())
                : string.Concat(rendered.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture))));
        }

        if (args.Any(a => a is Unresolved))
        {
            return new Unresolved(call.Text);
        }

        return name switch
        {
            "format" => Format(RequireString(args[0], call), args.Skip(1).ToList()),
            "concat" => string.Concat(args.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture))),
            "tolower" => RequireString(args[0], call).ToLowerInvariant(),
            "toupper" => RequireString(args[0], call).ToUpperInvariant(),
            "string" => args[0] is string s ? s : Convert.ToString(args[0], CultureInfo.InvariantCulture),
            "int" => Convert.ToInt64(args[0], CultureInfo.InvariantCulture),
            "empty" => args[0] switch
            {
                null => true,
                string s => s.Length == 0,
                List<object?> l => l.Count == 0,
                Dictionary<string, object?> d => d.Count == 0,
                _ => false,
            },
            "length" => (long)RequireString(args[0], call).Length,
            "not" => !(bool)args[0]!,
            "and" => args.All(a => (bool)a!),
            "or" => args.Any(a => (bool)a!),
            "equals" => Equals(args[0], args[1]),
            "true" => true,
            "false" => false,
            "null" => null,
            "json" => Evaluate(JsonNode.Parse(RequireString(args[0], call))),
            // Everything else is known only to Azure at deployment time.
            _ => new Unresolved(call.Text),
        };
    }

    private static object? Union(List<object?> args)
    {
        if (args.All(a => a is Dictionary<string, object?>))
        {
            var merged = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
            foreach (var obj in args.Cast<Dictionary<string, object?>>())
            {
                foreach (var (key, value) in obj)
                {
                    merged[key] = value;
                }
            }

            return merged;
        }

        return args.SelectMany(a => (List<object?>)a!).Distinct().ToList();
    }

    private static ResourceRef ResourceId(List<object?> args, ArmExpression.Call call)
    {
        // resourceId([subscriptionId], [resourceGroup], type, name...); extensionResourceId(scope, type, name...):
        // the type is the first argument shaped like "Namespace.Provider/type[/child]".
        var typeAt = args.FindIndex(a => a is string s && ResourceTypePattern().IsMatch(s));
        if (typeAt < 0)
        {
            throw new InvalidOperationException($"No resource type in [{call.Text}].");
        }

        return new ResourceRef((string)args[typeAt]!, args.Skip(typeAt + 1).ToList());
    }

    private static string Format(string format, List<object?> args) =>
        FormatHolePattern().Replace(format, m => Convert.ToString(args[int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)], CultureInfo.InvariantCulture) ?? string.Empty);

    private static string RequireString(object? value, ArmExpression.Call call) =>
        value as string ?? throw new InvalidOperationException($"Expected a string, got {value ?? "null"} in [{call.Text}].");

    [GeneratedRegex(@"^[A-Za-z0-9]+\.[A-Za-z0-9.]+/[A-Za-z0-9/]+$")]
    private static partial Regex ResourceTypePattern();

    [GeneratedRegex(@"\{(\d+)\}")]
    private static partial Regex FormatHolePattern();
}
