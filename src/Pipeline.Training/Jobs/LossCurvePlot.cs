namespace Pipeline.Training.Jobs;

/// <summary>
/// Draws loss-curve.png (training loss per logged step, validation loss per evaluation) with ScottPlot, and optionally a
/// monitored metric (e.g. kNN accuracy) on a right-hand axis of the same plot.
/// </summary>
public static class LossCurvePlot
{
    public static void Save(
        string path, string title, IReadOnlyList<LossPoint> train, IReadOnlyList<LossPoint> validation, int width = 900, int height = 520,
        (string Name, IReadOnlyList<LossPoint> Points)? metric = null)
    {
        var plot = new ScottPlot.Plot();
        if (train.Count > 0)
        {
            var line = plot.Add.Scatter(train.Select(p => (double)p.Step).ToArray(), train.Select(p => p.Loss).ToArray());
            line.LegendText = "train loss";
            line.MarkerSize = 0;
        }

        if (validation.Count > 0)
        {
            var line = plot.Add.Scatter(validation.Select(p => (double)p.Step).ToArray(), validation.Select(p => p.Loss).ToArray());
            line.LegendText = "validation loss";
            line.MarkerSize = 6;
        }

        if (metric is { Points.Count: > 0 } m)
        {
            var line = plot.Add.Scatter(m.Points.Select(p => (double)p.Step).ToArray(), m.Points.Select(p => p.Loss).ToArray());
            line.LegendText = m.Name;
            line.MarkerSize = 6;
            line.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = m.Name;
        }

        plot.Title(title);
        plot.XLabel("optimizer step");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(path, width, height);
    }
}
