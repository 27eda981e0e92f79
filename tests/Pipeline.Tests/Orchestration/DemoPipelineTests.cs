using System.Text.Json;
using Pipeline.Core;
using Pipeline.Core.Datasets;
using Pipeline.Core.Jobs;
using Pipeline.Core.Storage;
using Pipeline.Orchestration.Activities;
using Pipeline.Orchestration.Contracts;
using Pipeline.Orchestration.Hosting;
using Pipeline.Testing;

namespace Pipeline.Tests.Orchestration;

/// <summary>The demo's one host runs both halves: the sealed manifest's kind decides the sweep and the label budgets.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class DemoPipelineTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData("image", Objectives.SimClr)]
    [InlineData("text", Objectives.Mlm)]
    public async Task The_demo_plans_simclr_for_an_image_dataset_and_mlm_for_a_text_dataset(string kind, string objective)
    {
        var service = await azurite.CreateLayoutAsync();
        var options = DemoDefaults.SamplesPipeline(textSteps: 400, textMinutes: 2.5, imageMinutes: 1.5, threads: 2);
        var dataset = $"demo-{kind}-{Guid.NewGuid():N}"[..24];
        var manifest = BlobLayout.DatasetManifest(dataset, "1");
        await BlobJson.WriteAsync(service, manifest, new DatasetManifest
        {
            Kind = kind, Dataset = dataset, Version = "1", VocabSize = kind == "text" ? 3000 : null,
            TrainShards = [], ValidationShards = [],
        });

        var plan = await new PlanTrainingJobsActivity(service, options).RunAsync(
            null!, new PlanRequest("run-1", new SealedDataset(dataset, "1", kind, manifest.ToString(), 10, 9, 1), Sweep: null));

        var job = Assert.Single(plan);
        Assert.Equal(objective, job.Objective);
        var spec = await BlobJson.ReadAsync<JobSpec>(service, BlobPath.Parse(job.Spec));
        Assert.Equal(objective, spec!.Objective);
        var minutes = spec.Settings!.Value.GetProperty("maxMinutes").GetDouble();
        Assert.Equal(kind == "image" ? 1.5 : 2.5, minutes);
        if (kind == "image")
        {
            Assert.Equal(JsonValueKind.Object, spec.Settings.Value.GetProperty("knn").ValueKind);
            Assert.Null(spec.TextModel);
        }
        else
        {
            Assert.Equal(3000, spec.TextModel!.VocabSize);
        }
    }

    [Fact]
    public void Image_datasets_get_their_own_label_budgets_and_text_keeps_the_shared_ones()
    {
        var demo = DemoDefaults.SamplesPipeline();
        Assert.Equal(["1%", "5%", "10%"], demo.EvaluationBudgetsFor("image"));
        Assert.Equal(["1%", "10%", "100%"], demo.EvaluationBudgetsFor("text"));

        // Without image budgets every kind uses the shared list.
        var plain = new Pipeline.Orchestration.PipelineOptions { EvaluationBudgets = ["50/class"] };
        Assert.Equal(["50/class"], plain.EvaluationBudgetsFor("image"));
    }
}
