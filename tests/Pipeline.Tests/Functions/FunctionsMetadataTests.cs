using System.Text.Json;
using Pipeline.Testing;

namespace Pipeline.Tests.Functions;

/// <summary>
/// Reads the functions.metadata the Functions worker SDK generates at build time (what the Azure Functions host
/// indexes) and checks the triggers, bindings and routes that infra/ and the README depend on.
/// </summary>
public sealed class FunctionsMetadataTests
{
    private static readonly Lazy<JsonElement[]> Functions = new(() =>
    {
        var candidates = new[] { "Debug", "Release" }
            .Select(c => RepositoryPaths.Combine("src", "Pipeline.Functions", "bin", c, "net10.0", "functions.metadata"))
            .Where(File.Exists).OrderByDescending(File.GetLastWriteTimeUtc).ToList();
        Assert.True(candidates.Count > 0, "functions.metadata not found: build src/Pipeline.Functions (the test project references it for build order).");
        return JsonDocument.Parse(File.ReadAllText(candidates[0])).RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    });

    [Fact]
    public void The_blob_trigger_is_IngestUnlabeledBlob_on_unlabeled_via_Event_Grid_with_the_PipelineStorage_connection()
    {
        var trigger = Binding("IngestUnlabeledBlob", "blobTrigger");

        Assert.Equal("unlabeled/{name}", trigger.GetProperty("path").GetString());
        Assert.Equal("PipelineStorage", trigger.GetProperty("connection").GetString());
        Assert.Equal("EventGrid", trigger.GetProperty("source").GetString());
        Assert.Equal("in", trigger.GetProperty("direction").GetString(), ignoreCase: true);
        Binding("IngestUnlabeledBlob", "durableClient");
    }

    [Theory]
    [InlineData("SealDatasetHttp", "datasets/{dataset}/seal", "post", "function")]
    [InlineData("RunStatus", "runs/{instanceId}", "get", "function")]
    [InlineData("Health", "health", "get", "anonymous")]
    [InlineData("InferenceEmbed", "models/{name}/embed", "post", "function")]
    public void Http_functions_have_their_routes_methods_and_auth_levels(string function, string route, string method, string authLevel)
    {
        var trigger = Binding(function, "httpTrigger");

        Assert.Equal(route, trigger.GetProperty("route").GetString());
        Assert.Contains(method, trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToLowerInvariant()));
        Assert.Equal(authLevel, trigger.GetProperty("authLevel").GetString(), ignoreCase: true);
    }

    [Theory]
    [InlineData("IngestBlob", "orchestrationTrigger")]
    [InlineData("Pretrain", "orchestrationTrigger")]
    [InlineData("TrainingJob", "orchestrationTrigger")]
    [InlineData("Publish", "orchestrationTrigger")]
    [InlineData("AcceptUpload", "activityTrigger")]
    [InlineData("RequestSeal", "activityTrigger")]
    [InlineData("SealDataset", "activityTrigger")]
    [InlineData("PlanTrainingJobs", "activityTrigger")]
    [InlineData("LaunchJob", "activityTrigger")]
    [InlineData("PollJob", "activityTrigger")]
    [InlineData("StopJob", "activityTrigger")]
    [InlineData("CheckParity", "activityTrigger")]
    [InlineData("EvaluateModel", "activityTrigger")]
    [InlineData("PublishModel", "activityTrigger")]
    public void Every_durable_task_the_local_host_registers_is_a_function_too(string name, string trigger) => Binding(name, trigger);

    private static JsonElement Binding(string function, string type)
    {
        var f = Functions.Value.SingleOrDefault(x => x.GetProperty("name").GetString() == function);
        Assert.True(f.ValueKind == JsonValueKind.Object, $"no function named {function} in functions.metadata");
        var bindings = f.GetProperty("bindings").EnumerateArray().ToList();
        var b = bindings.FirstOrDefault(x => string.Equals(x.GetProperty("type").GetString(), type, StringComparison.OrdinalIgnoreCase));
        Assert.True(b.ValueKind == JsonValueKind.Object, $"{function} has no {type} binding; it has {string.Join(", ", bindings.Select(x => x.GetProperty("type").GetString()))}");
        return b;
    }
}
