using Pipeline.Core.Registry;

namespace Pipeline.Tests.Registry;

public class ModelCardInt8Tests
{
    private static string Card(double published) => ModelCard.Render(new ModelCardInput
    {
        Name = "enc",
        Version = "3",
        PublishedAt = DateTimeOffset.UnixEpoch,
        TrainingMetrics = new Dictionary<string, double>
        {
            ["int8_embedding_cosine_mean"] = 0.9975,
            ["int8_embedding_cosine_min"] = 0.991,
            ["int8_fill_mask_top1_agreement"] = 0.97,
            ["int8_speedup"] = 1.8,
            ["int8_published"] = published,
            ["int8_tolerance_min_mean_cosine"] = 0.99,
            ["int8_tolerance_min_top1_agreement"] = 0.95,
        },
    });

    [Fact]
    public void Card_states_the_int8_variant_its_measured_change_and_tolerance()
    {
        var card = Card(1);
        Assert.Contains("## int8 variant", card);
        Assert.Contains("mean embedding cosine 0.9975", card);
        Assert.Contains("top-1 agreement 0.97", card);
        Assert.Contains("mean cosine >= 0.99", card);
        Assert.Contains("?variant=int8", card);
        Assert.Contains("not published", Card(0));
        Assert.DoesNotContain("int8 variant", ModelCard.Render(new ModelCardInput { Name = "enc", Version = "1", PublishedAt = DateTimeOffset.UnixEpoch }));
    }
}
