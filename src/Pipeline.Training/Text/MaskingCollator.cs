using System.Runtime.CompilerServices;
using Pipeline.Training.Jobs;

namespace Pipeline.Training.Text;

/// <summary>The BERT masking rule, stated once: which tokens are chosen and what replaces them.</summary>
public sealed record MaskingOptions
{
    /// <summary>Share of eligible (non-special, non-padding) tokens chosen for prediction.</summary>
    public double MaskProbability { get; init; } = 0.15;

    /// <summary>Of the chosen tokens: share replaced by [MASK].</summary>
    public double MaskTokenShare { get; init; } = 0.8;

    /// <summary>Of the chosen tokens: share replaced by a random non-special token (the rest stay unchanged).</summary>
    public double RandomTokenShare { get; init; } = 0.1;

    /// <summary>Choose whole words: a word piece and its following "##" pieces are chosen together.</summary>
    public bool WholeWordMasking { get; init; }

    public MaskingOptions Validate()
    {
        if (MaskProbability is <= 0 or >= 1 || MaskTokenShare < 0 || RandomTokenShare < 0 || MaskTokenShare + RandomTokenShare > 1)
        {
            throw new ArgumentException($"Invalid masking options {this}: MaskProbability must be in (0,1) and MaskTokenShare + RandomTokenShare <= 1.");
        }

        return this;
    }
}

/// <summary>A masked batch: model inputs and labels (the original id where a token was chosen, <see cref="MaskingCollator.Ignore"/> elsewhere).</summary>
public sealed record MaskedBatch(long[] InputIds, long[] Labels, long[] AttentionMask, int Batch, int Length)
{
    /// <summary>Flat indices (row * Length + column) of the chosen positions, ascending.</summary>
    public required long[] MaskedPositions { get; init; }
}

/// <summary>
/// Masked-language-model collator (HF DataCollatorForLanguageModeling's rule): chooses
/// <see cref="MaskingOptions.MaskProbability"/> of the eligible tokens; of those 80% become [MASK], 10% a random
/// non-special token, 10% stay. Special tokens and padding are never chosen. Every draw comes from the
/// <see cref="JobRandom"/> passed in, so a checkpointed state replays exactly.
/// </summary>
public sealed class MaskingCollator
{
    public const long Ignore = -100;

    private readonly MaskingOptions _options;
    private readonly MlmVocabulary _vocab;
    private readonly int[] _replacements;

    public MaskingCollator(MaskingOptions options, MlmVocabulary vocab)
    {
        _options = options.Validate();
        _vocab = vocab;
        _replacements = Enumerable.Range(0, vocab.Size).Where(i => !vocab.IsSpecial[i]).ToArray();
        if (_replacements.Length == 0)
        {
            throw new ArgumentException("The vocabulary has no ordinary tokens to mask.");
        }
    }

    /// <param name="ids">[batch * length] token ids (with [CLS]/[SEP]/[PAD]).</param>
    /// <param name="attentionMask">[batch * length] 1 for real tokens, 0 for padding.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot every step: optimised code from the first call, no tier-0 phase
    public MaskedBatch Apply(long[] ids, long[] attentionMask, int batch, int length, JobRandom random)
    {
        var inputs = (long[])ids.Clone();
        var labels = new long[ids.Length];
        Array.Fill(labels, Ignore);
        var chosen = new List<long>();
        for (var row = 0; row < batch; row++)
        {
            var start = row * length;
            var chooseWord = false;
            for (var i = start; i < start + length; i++)
            {
                var id = (int)ids[i];
                if (attentionMask[i] == 0 || _vocab.IsSpecial[id])
                {
                    continue;
                }

                // Whole-word masking decides once per word: a "##" piece follows its word's decision.
                var decide = !_options.WholeWordMasking || !_vocab.IsContinuation[id];
                if (decide)
                {
                    chooseWord = random.NextDouble() < _options.MaskProbability;
                }

                if (chooseWord)
                {
                    chosen.Add(i);
                }
            }
        }

        if (chosen.Count == 0)
        {
            // A batch with nothing chosen has no loss; choose one eligible token so every step trains.
            var eligible = Enumerable.Range(0, ids.Length).Where(i => attentionMask[i] != 0 && !_vocab.IsSpecial[(int)ids[i]]).ToArray();
            if (eligible.Length > 0)
            {
                chosen.Add(eligible[random.Next(eligible.Length)]);
            }
        }

        foreach (var i in chosen)
        {
            labels[i] = ids[i];
            var r = random.NextDouble();
            if (r < _options.MaskTokenShare)
            {
                inputs[i] = _vocab.Mask;
            }
            else if (r < _options.MaskTokenShare + _options.RandomTokenShare)
            {
                inputs[i] = _replacements[random.Next(_replacements.Length)];
            }
        }

        return new MaskedBatch(inputs, labels, attentionMask, batch, length) { MaskedPositions = chosen.ToArray() };
    }
}
