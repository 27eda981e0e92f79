using Pipeline.Core.Jobs;

namespace Pipeline.Training.Jobs;

/// <summary>
/// The objectives the trainer can run, by name. Each objective registers one line here; the trainer entrypoint and
/// tests create trainers only through <see cref="Create"/>.
/// </summary>
public static class ObjectiveTrainers
{
    private static readonly Dictionary<string, Func<IObjectiveTrainer>> Factories = new(StringComparer.OrdinalIgnoreCase)
    {
        [Objectives.Mlm] = () => new Text.MlmTrainer(),
    };

    public static IReadOnlyCollection<string> Names
    {
        get
        {
            lock (Factories)
            {
                return Factories.Keys.ToArray();
            }
        }
    }

    /// <summary>Adds or replaces an objective (tests use this to plug in fakes).</summary>
    public static void Register(string objective, Func<IObjectiveTrainer> factory)
    {
        lock (Factories)
        {
            Factories[objective] = factory;
        }
    }

    public static IObjectiveTrainer Create(string objective)
    {
        lock (Factories)
        {
            if (Factories.TryGetValue(objective, out var factory))
            {
                return factory();
            }
        }

        throw new ArgumentException($"Objective '{objective}' has no trainer; known objectives: {string.Join(", ", Names)}.");
    }
}
