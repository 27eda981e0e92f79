using System.Globalization;

namespace Pipeline.Evaluation.Reporting;

/// <summary>data-efficiency.png: test accuracy vs labels (log scale), one line with error bars per encoder.</summary>
public static class DataEfficiencyPlot
{
    public const string FileName = "data-efficiency.png";

    public static void Save(DataEfficiencyReport report, string path, int width = 800, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var encoder in report.Encoders)
        {
            var results = report.Results.Where(r => r.Encoder == encoder).OrderBy(r => r.Labels).ToArray();
            if (results.Length == 0)
            {
                continue;
            }

            var xs = results.Select(r => Math.Log10(r.Labels)).ToArray();
            var ys = results.Select(r => r.Mean * 100).ToArray();
            var errors = results.Select(r => r.Std * 100).ToArray();
            var color = palette.GetColor(index++);
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = encoder;
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 7;
            var bars = plot.Add.ErrorBar(xs, ys, errors);
            bars.Color = color;
        }

        // Log-scaled x: ticks at the budgets actually measured, labelled with label counts.
        var labels = report.Results.Select(r => r.Labels).Distinct().Order().ToArray();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var n in labels)
        {
            ticks.AddMajor(Math.Log10(n), n.ToString(CultureInfo.InvariantCulture));
        }

        plot.Axes.Bottom.TickGenerator = ticks;
        if (labels.Length == 1)
        {
            plot.Axes.SetLimitsX(Math.Log10(labels[0]) - 0.5, Math.Log10(labels[0]) + 0.5);
        }

        plot.Title($"Data efficiency: {report.Task} ({report.Draws} draws, mean ± std)");
        plot.XLabel("labelled training examples (log scale)");
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, width, height);
    }
}
