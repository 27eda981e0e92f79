using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Pipeline.Inference.Telemetry;

/// <summary>
/// OpenTelemetry-compatible instruments (System.Diagnostics.Metrics, meter "Pipeline.Inference"): requests by
/// endpoint and status, latency, batch sizes, sequences embedded. A host exports them with AddMeter(MeterName);
/// <see cref="InferenceMetricsSnapshot"/> keeps running totals for GET /api/inference/metrics.
/// </summary>
public sealed class InferenceMetrics : IDisposable
{
    public const string MeterName = "Pipeline.Inference";

    private readonly Meter _meter;

    public InferenceMetrics(IMeterFactory? factory = null)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        Requests = _meter.CreateCounter<long>("pipeline.inference.requests", description: "HTTP inference requests by endpoint and status code");
        Latency = _meter.CreateHistogram<double>("pipeline.inference.duration", unit: "ms", description: "Request latency");
        BatchSize = _meter.CreateHistogram<int>("pipeline.inference.batch_size", description: "Sequences or images per forward pass");
        Sequences = _meter.CreateCounter<long>("pipeline.inference.sequences", description: "Sequences or images embedded");
    }

    public Counter<long> Requests { get; }

    public Histogram<double> Latency { get; }

    public Histogram<int> BatchSize { get; }

    public Counter<long> Sequences { get; }

    public InferenceMetricsSnapshot Snapshot { get; } = new();

    public void RecordRequest(string endpoint, int status, double milliseconds)
    {
        var tags = new TagList { { "endpoint", endpoint }, { "status", status } };
        Requests.Add(1, tags);
        Latency.Record(milliseconds, tags);
        Snapshot.Record(endpoint, status, milliseconds);
    }

    public void RecordBatch(int size)
    {
        BatchSize.Record(size);
        Snapshot.RecordBatch(size);
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>Running totals readable without an exporter: requests per endpoint/status, latency buckets, batch sizes.</summary>
public sealed class InferenceMetricsSnapshot
{
    private static readonly double[] Bounds = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _requests = new(StringComparer.Ordinal);
    private readonly long[] _latency = new long[Bounds.Length + 1];
    private long _batches;
    private long _batchedItems;
    private int _maxBatch;

    // Batch-size histogram: buckets 1, 2, 3-4, 5-8, 9-16, 17-32, 33-64, 65+.
    private static readonly int[] BatchBounds = [1, 2, 4, 8, 16, 32, 64];
    private readonly long[] _batchSizes = new long[BatchBounds.Length + 1];

    internal void Record(string endpoint, int status, double milliseconds)
    {
        var bucket = Array.FindIndex(Bounds, b => milliseconds <= b);
        lock (_lock)
        {
            var key = $"{endpoint} {status}";
            _requests[key] = _requests.GetValueOrDefault(key) + 1;
            _latency[bucket < 0 ? Bounds.Length : bucket]++;
        }
    }

    internal void RecordBatch(int size)
    {
        lock (_lock)
        {
            _batches++;
            _batchedItems += size;
            _maxBatch = Math.Max(_maxBatch, size);
            var bucket = Array.FindIndex(BatchBounds, b => size <= b);
            _batchSizes[bucket < 0 ? BatchBounds.Length : bucket]++;
        }
    }

    public object ToJsonModel()
    {
        lock (_lock)
        {
            return new
            {
                requests = new SortedDictionary<string, long>(_requests, StringComparer.Ordinal),
                latencyMs = Bounds.Select((b, i) => new { le = b.ToString(System.Globalization.CultureInfo.InvariantCulture), count = _latency[i] })
                    .Append(new { le = "+Inf", count = _latency[^1] }).ToList(),
                batches = _batches,
                meanBatchSize = _batches == 0 ? 0 : (double)_batchedItems / _batches,
                maxBatchSize = _maxBatch,
                batchSizes = BatchBounds.Select((b, i) => new { le = b.ToString(System.Globalization.CultureInfo.InvariantCulture), count = _batchSizes[i] })
                    .Append(new { le = "+Inf", count = _batchSizes[^1] }).ToList(),
            };
        }
    }
}
