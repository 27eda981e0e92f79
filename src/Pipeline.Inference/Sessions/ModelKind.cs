namespace Pipeline.Inference.Sessions;

/// <summary>What a published encoder embeds.</summary>
public enum ModelKind
{
    Text,
    Image,
}
