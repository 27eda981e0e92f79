namespace Pipeline.Training.Optim;

/// <summary>Linear warmup from 0 to the peak rate, then cosine or linear decay to <c>MinRatio</c> x peak at the last step.</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, string Decay = "cosine", double MinRatio = 0.0)
{
    /// <summary>The rate for optimizer step <paramref name="step"/> (1-based: the first update uses step 1).</summary>
    public double At(long step) => At(step, 0);

    /// <summary>
    /// The rate for <paramref name="step"/> when the decay must also have reached <paramref name="minProgress"/> (0 to 1)
    /// of its span: budgeted training passes the share of its wall-clock budget used, so a run the clock stops before
    /// <c>TotalSteps</c> still ends at the bottom of its schedule. Warmup is by steps only.
    /// </summary>
    public double At(long step, double minProgress)
    {
        if (WarmupSteps > 0 && step <= WarmupSteps)
        {
            return Peak * step / WarmupSteps;
        }

        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp(Math.Max((double)(step - WarmupSteps) / span, minProgress), 0, 1);
        var factor = Decay switch
        {
            "cosine" => 0.5 * (1 + Math.Cos(Math.PI * progress)),
            "linear" => 1 - progress,
            "constant" => 1,
            _ => throw new ArgumentException($"Schedule '{Decay}' is not supported; use 'cosine', 'linear' or 'constant'."),
        };
        return Peak * (MinRatio + ((1 - MinRatio) * factor));
    }
}
