namespace Pipeline.Training.Jobs;

/// <summary>Draws loss-curve.png (training loss per logged step, validation loss per evaluation) with ScottPlot.</summary>
public static class LossCurvePlot
{
    public static void Save(string path, string title, IReadOnlyList<LossPoint> train, IReadOnlyList<LossPoint> validation, int width = 900, int height = 520)
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

        plot.Title(title);
        plot.XLabel("optimizer step");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(path, width, height);
    }
}
