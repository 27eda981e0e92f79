namespace Pipeline.Inference;

/// <summary>What went wrong with a request, in terms an HTTP adapter maps to a status code.</summary>
public enum InferenceErrorKind
{
    BadRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    Overloaded,
    Unavailable,
}

/// <summary>A request the service refuses, with a message that says what was wrong and what to do.</summary>
public sealed class InferenceException(InferenceErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public InferenceErrorKind Kind { get; } = kind;

    public static InferenceException BadRequest(string message) => new(InferenceErrorKind.BadRequest, message);

    public static InferenceException NotFound(string message) => new(InferenceErrorKind.NotFound, message);
}
