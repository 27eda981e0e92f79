using Pipeline.Evaluation.Probe;

namespace Pipeline.Tests.Evaluation;

public sealed class LabelBudgetTests
{
    private static readonly int[] Pool = [.. Enumerable.Range(0, 1000).Select(i => i < 600 ? 0 : i < 900 ? 1 : 2)];

    [Theory]
    [InlineData("1%", "1pct")]
    [InlineData("10%", "10pct")]
    [InlineData("all", "100pct")]
    [InlineData("50/class", "50pc")]
    [InlineData("8pc", "8pc")]
    public void Parses_percentages_and_per_class_counts(string text, string key) => Assert.Equal(key, LabelBudget.Parse(text).Key);

    [Theory]
    [InlineData("0%")]
    [InlineData("150%")]
    [InlineData("0/class")]
    [InlineData("lots")]
    public void Rejects_budgets_it_cannot_honour(string text)
    {
        var error = Record.Exception(() => LabelBudget.Parse(text));
        Assert.True(error is FormatException or ArgumentOutOfRangeException, $"got {error?.GetType().Name ?? "no exception"}");
    }

    [Fact]
    public void Fraction_draws_are_stratified_with_at_least_one_per_class()
    {
        var draw = LabelBudget.Parse("1%").Draw(Pool, 3, seed: 1);
        Assert.Equal(6, draw.Count(i => Pool[i] == 0));
        Assert.Equal(3, draw.Count(i => Pool[i] == 1));
        Assert.Equal(1, draw.Count(i => Pool[i] == 2));
        Assert.Equal(draw.Length, draw.Distinct().Count());
    }

    [Fact]
    public void Per_class_draws_take_n_of_each_class_capped_by_its_size()
    {
        var draw = LabelBudget.Parse("150/class").Draw(Pool, 3, seed: 1);
        Assert.Equal(150, draw.Count(i => Pool[i] == 0));
        Assert.Equal(100, draw.Count(i => Pool[i] == 2));
    }

    [Fact]
    public void Draws_repeat_for_a_seed_and_differ_between_seeds()
    {
        var budget = LabelBudget.Parse("5%");
        Assert.Equal(budget.Draw(Pool, 3, 7), budget.Draw(Pool, 3, 7));
        Assert.NotEqual(budget.Draw(Pool, 3, 7), budget.Draw(Pool, 3, 8));
    }
}
