namespace Pipeline.Evaluation.Probe;

/// <summary>Dense row-major float features, one row per example (embeddings, pixels or TF-IDF).</summary>
public sealed class FeatureMatrix
{
    public FeatureMatrix(int rows, int columns)
        : this(rows, columns, new float[checked(rows * columns)])
    {
    }

    public FeatureMatrix(int rows, int columns, float[] data)
    {
        if (rows < 0 || columns < 1 || data.Length != rows * columns)
        {
            throw new ArgumentException($"A {rows}x{columns} feature matrix needs {rows * columns} values, not {data.Length}.");
        }

        Rows = rows;
        Columns = columns;
        Data = data;
    }

    public int Rows { get; }

    public int Columns { get; }

    public float[] Data { get; }

    public Span<float> Row(int i) => Data.AsSpan(i * Columns, Columns);

    public static FeatureMatrix FromRows(IReadOnlyList<float[]> rows)
    {
        if (rows.Count == 0)
        {
            throw new ArgumentException("No feature rows.");
        }

        var matrix = new FeatureMatrix(rows.Count, rows[0].Length);
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != matrix.Columns)
            {
                throw new ArgumentException($"Feature row {i} has {rows[i].Length} values; row 0 has {matrix.Columns}.");
            }

            rows[i].CopyTo(matrix.Row(i));
        }

        return matrix;
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order.</summary>
    public FeatureMatrix Select(IReadOnlyList<int> indices)
    {
        var result = new FeatureMatrix(indices.Count, Columns);
        for (var i = 0; i < indices.Count; i++)
        {
            Row(indices[i]).CopyTo(result.Row(i));
        }

        return result;
    }
}
