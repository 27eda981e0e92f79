namespace Pipeline.Tests.Infra.Arm;

/// <summary>
/// A value only Azure can compute at deployment time (reference(), uniqueString(), listKeys() ...), kept as its
/// expression text; in a partly known format() or concat() the unknown parts appear as ⟨expression⟩.
/// </summary>
public sealed record Unresolved(string Text)
{
    public override string ToString() => Text;
}

/// <summary>A resource id built by resourceId() or subscriptionResourceId(): its type and name segments.</summary>
public sealed record ResourceRef(string Type, IReadOnlyList<object?> Names)
{
    /// <summary>The last name segment when it is known (e.g. the container of a container id).</summary>
    public string? LastName => Names.Count > 0 ? Names[^1] as string : null;

    public override string ToString() => $"{Type}/{string.Join('/', Names.Select(n => n?.ToString()))}";
}
