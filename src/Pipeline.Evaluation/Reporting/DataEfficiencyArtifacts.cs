using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Core;
using Pipeline.Inference.Heads;

namespace Pipeline.Evaluation.Reporting;

/// <summary>
/// Writes what the publish step attaches to a model version: metrics.json ({"evaluation": flat summary,
/// "dataEfficiency": full report}), data-efficiency.png, data-efficiency.md (the model card section) and
/// classifier.json (the servable probe head).
/// </summary>
public static class DataEfficiencyArtifacts
{
    public const string MetricsFile = "metrics.json";
    public const string MarkdownFile = "data-efficiency.md";

    /// <summary>The registry's PublishRequest.Evaluation: flat probe metrics plus the task description.</summary>
    public static JsonObject EvaluationNode(DataEfficiencyReport report)
    {
        var node = new JsonObject
        {
            ["task"] = report.Task,
            ["modality"] = report.Modality,
            ["classes"] = report.Classes.Count,
            ["trainPool"] = report.TrainPool,
            ["testExamples"] = report.TestExamples,
            ["draws"] = report.Draws,
        };
        foreach (var (key, value) in report.FlatMetrics())
        {
            node[key] = value;
        }

        return node;
    }

    /// <summary>Writes the files into <paramref name="directory"/>; returns file name to local path.</summary>
    public static IReadOnlyDictionary<string, string> Write(DataEfficiencyResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var metrics = new JsonObject
        {
            ["evaluation"] = EvaluationNode(result.Report),
            ["dataEfficiency"] = JsonSerializer.SerializeToNode(result.Report, PipelineJson.Options),
        };
        files[MetricsFile] = WriteText(directory, MetricsFile, metrics.ToJsonString(PipelineJson.Options));
        files[MarkdownFile] = WriteText(directory, MarkdownFile, result.Report.ToMarkdown());
        var plot = Path.Combine(directory, DataEfficiencyPlot.FileName);
        DataEfficiencyPlot.Save(result.Report, plot);
        files[DataEfficiencyPlot.FileName] = plot;
        if (result.Classifier is not null)
        {
            files[LinearHead.FileName] = WriteText(directory, LinearHead.FileName, JsonSerializer.Serialize(result.Classifier, PipelineJson.Options));
        }

        return files;
    }

    private static string WriteText(string directory, string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}
