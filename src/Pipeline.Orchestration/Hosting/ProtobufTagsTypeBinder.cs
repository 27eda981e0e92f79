using DurableTask.AzureStorage;

namespace Pipeline.Orchestration.Hosting;

/// <summary>
/// The gRPC task-hub server hands the Azure Storage backend sub-orchestration start events whose Tags is a protobuf
/// MapField; the backend writes that type name into the queue message and cannot load it back (the message is then
/// retried forever). This binder writes and reads such tags as a plain Dictionary&lt;string, string&gt;.
/// </summary>
public sealed class ProtobufTagsTypeBinder : ICustomTypeBinder
{
    private const string MapField = "Google.Protobuf.Collections.MapField`2";

    public void BindToName(Type serializedType, out string assemblyName, out string typeName)
    {
        assemblyName = null!;
        typeName = serializedType.FullName?.StartsWith(MapField, StringComparison.Ordinal) == true
            ? typeof(Dictionary<string, string>).FullName!
            : serializedType.FullName!;
    }

    public Type BindToType(string assemblyName, string typeName) =>
        typeName.StartsWith(MapField, StringComparison.Ordinal) ? typeof(Dictionary<string, string>) : null!;
}
