using System.Globalization;
using System.Text.Json;
using Azure.Storage.Blobs;
using Microsoft.DurableTask;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Services;

namespace Pipeline.Orchestration.Activities;

/// <summary>
/// The parity gate: the job's parity.json (ONNX Runtime vs the TorchSharp forward on held-out inputs, measured in the
/// job where libtorch lives) must exist and pass (max abs diff within 1e-4).
/// </summary>
[DurableTask(TaskNames.CheckParity)]
public sealed class CheckParityActivity(BlobServiceClient blobs) : TaskActivity<PublishInput, ParityGate>
{
    public const double Tolerance = 1e-4;

    public override async Task<ParityGate> RunAsync(TaskActivityContext context, PublishInput input)
    {
        var result = await BlobJson.ReadAsync<Core.Jobs.JobResult>(blobs, BlobPath.Parse(input.Result)).ConfigureAwait(false);
        if (result is null || !result.Artifacts.TryGetValue("parity.json", out var parityPath))
        {
            return new ParityGate(false, null, $"{input.Result} names no parity.json artifact");
        }

        var report = await BlobJson.ReadAsync<JsonElement>(blobs, BlobPath.Parse(parityPath)).ConfigureAwait(false);
        if (report.ValueKind != JsonValueKind.Object)
        {
            return new ParityGate(false, null, $"{parityPath} is missing");
        }

        double? maxAbs = TryGet(report, "maxAbsDiff") is { ValueKind: JsonValueKind.Number } m ? m.GetDouble() : null;
        var passed = TryGet(report, "passed") is { ValueKind: JsonValueKind.True } && maxAbs is { } d && d <= Tolerance;
        var detail = maxAbs is { } x ? $"max abs diff {x.ToString("G3", CultureInfo.InvariantCulture)} (tolerance {Tolerance})" : "no maxAbsDiff in parity.json";
        return new ParityGate(passed, maxAbs, detail);
    }

    private static JsonElement? TryGet(JsonElement obj, string name)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return p.Value;
            }
        }

        return null;
    }
}

/// <summary>Downstream evaluation (few-label probe) before anything is published.</summary>
[DurableTask(TaskNames.EvaluateModel)]
public sealed class EvaluateModelActivity(IModelEvaluator evaluator) : TaskActivity<PublishInput, EvaluationSummary>
{
    public override Task<EvaluationSummary> RunAsync(TaskActivityContext context, PublishInput input) =>
        evaluator.EvaluateAsync(input, CancellationToken.None);
}

/// <summary>Writes the registry version and swaps latest.json.</summary>
[DurableTask(TaskNames.PublishModel)]
public sealed class PublishModelActivity(IModelPublisher publisher) : TaskActivity<PublishModelRequest, PublishedModel>
{
    public override Task<PublishedModel> RunAsync(TaskActivityContext context, PublishModelRequest input) =>
        publisher.PublishAsync(input, CancellationToken.None);
}
