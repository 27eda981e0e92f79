using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Jobs;
using Pipeline.Orchestration.Hosting;
using Pipeline.Training.Images;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Tests.Images;

public class ImageRecipeTests
{
    [Fact]
    public void The_demo_simclr_job_is_the_fashion_mnist_recipe_with_a_clock_and_a_knn_monitor()
    {
        // DemoDefaults writes the recipe out as JSON (orchestration does not load TorchSharp); the trainer must read
        // back exactly ImageRecipes.FashionMnist, or the README would quote a recipe that did not run.
        var config = DemoDefaults.FashionMnistSimClr(maxMinutes: 2, threads: 2);
        var spec = new JobSpec
        {
            RunId = "r", JobId = "j", Objective = config.Objective, DatasetManifest = "datasets/d/1/manifest.json",
            Settings = config.Settings, Optimization = config.Optimization,
        };
        var settings = ImagePretrainingSettings.FromSpec(spec);
        var (recipe, optimization) = ImageRecipes.FashionMnist(config.Optimization.Steps, config.Optimization.BatchSize, config.Optimization.Seed);

        Assert.Equal(Objectives.SimClr, config.Objective);
        Assert.Equal(Json(recipe), Json(settings with { Knn = null }));
        Assert.Equal(optimization, config.Optimization with { CheckpointEvery = optimization.CheckpointEvery, EvalEvery = optimization.EvalEvery, LogEvery = optimization.LogEvery });
        Assert.Equal(2.0, JobSettings.From(spec.Settings).MaxMinutes);
        Assert.True(settings.ScheduleByTime);
        Assert.Equal(DemoDefaults.ImageDataset, settings.Knn!.Labeled);
    }

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, PipelineJson.Options);
}
