using System.Threading.Channels;

namespace Pipeline.Inference.Batching;

/// <summary>
/// Collects single items from concurrent callers into batches: a batch closes at <c>MaxBatchSize</c> items, at the
/// padded-token budget (items x longest item), or when its first item has waited <c>MaxWait</c>. At most
/// <c>ConcurrentBatches</c> batches run at a time per batcher (one when a session's intra-op threads take every core),
/// so concurrent requests share forward passes instead of fighting over the cores. The queue is
/// bounded: when it is full the caller gets an Overloaded error (429) instead of unbounded memory.
/// </summary>
public sealed class MicroBatcher<TItem, TResult> : IAsyncDisposable
{
    private readonly Func<IReadOnlyList<TItem>, TResult[]> _execute;
    private readonly Func<TItem, int> _cost;
    private readonly MicroBatchingOptions _options;
    private readonly Action<int>? _onBatch;
    private readonly Channel<Pending> _queue;
    private readonly Task _loop;
    private Pending? _carried;
    private int _lastBatchSize;

    // At most ConcurrentBatches forward passes at a time, whether on the batching loop, a pool thread, or inline on
    // an idle caller's thread.
    private readonly int _concurrency;
    private readonly SemaphoreSlim _running;

    public MicroBatcher(Func<IReadOnlyList<TItem>, TResult[]> execute, Func<TItem, int> cost, MicroBatchingOptions options, Action<int>? onBatch = null)
    {
        options.Validate();
        _execute = execute;
        _cost = cost;
        _options = options;
        _onBatch = onBatch;
        _concurrency = Math.Max(1, options.ConcurrentBatches);
        _running = new SemaphoreSlim(_concurrency, _concurrency);
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Queues the items (one request) and returns their results in order.</summary>
    public Task<TResult[]> RunAsync(IReadOnlyList<TItem> items, CancellationToken ct)
    {
        // A lone caller (the last batch had one request's worth, nothing queued, nothing running) runs on its own
        // thread: skipping the hand-off to the loop and back saves two thread switches, most of the batching overhead
        // at low load. Under load the last batch was bigger, so requests queue and share passes.
        if (_options.Adaptive && _lastBatchSize <= 1 && _queue.Reader.Count == 0 && items.Count <= _options.MaxBatchSize && _running.Wait(0))
        {
            try
            {
                ct.ThrowIfCancellationRequested();
                _onBatch?.Invoke(items.Count);
                _lastBatchSize = items.Count;
                return Task.FromResult(_execute(items));
            }
            catch (Exception e)
            {
                return Task.FromException<TResult[]>(e);
            }
            finally
            {
                _running.Release();
            }
        }

        var tasks = new Task<TResult>[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var pending = new Pending(items[i], ct);
            if (!_queue.Writer.TryWrite(pending))
            {
                // Items already queued still run; their results are simply dropped.
                throw new InferenceException(InferenceErrorKind.Overloaded, "The inference queue is full; retry shortly.");
            }

            tasks[i] = pending.Completion.Task;
        }

        return Task.WhenAll(tasks);
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        while (true)
        {
            var first = _carried;
            _carried = null;
            if (first is null)
            {
                if (!await reader.WaitToReadAsync().ConfigureAwait(false))
                {
                    return;
                }

                if (!reader.TryRead(out first))
                {
                    continue;
                }
            }

            // A batch forms only once a forward-pass slot is free: while every slot is busy, arrivals queue up and go
            // together into the next batch. (The slot is taken after the first item, not before, so that an idle loop
            // never holds one and a lone caller can still run on its own thread.)
            await _running.WaitAsync().ConfigureAwait(false);
            List<Pending> batch;
            try
            {
                batch = await CollectAsync(reader, first).ConfigureAwait(false);
            }
            catch
            {
                _running.Release();
                throw;
            }

            // With several slots (ORT sessions are safe to run concurrently) each pass goes to a pool thread while this
            // loop gathers the next batch for the next free slot; with one, the loop runs it.
            if (_concurrency == 1)
            {
                ExecuteAndRelease(batch);
            }
            else
            {
                _ = Task.Run(() => ExecuteAndRelease(batch));
            }
        }
    }

    private void ExecuteAndRelease(List<Pending> batch)
    {
        try
        {
            Execute(batch);
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<List<Pending>> CollectAsync(ChannelReader<Pending> reader, Pending first)
    {
        var batch = new List<Pending>(_options.MaxBatchSize) { first };
        var longest = _cost(first.Item);

        // MaxWait counts from when the first item was queued (the text-embeddings-inference rule): items that queued
        // while the previous batch ran have waited already and go at once, so the forward pass never idles waiting
        // for company while work is ready. Adaptive: a lone caller (last batch was a single item) runs at once.
        var deadline = !_options.Adaptive || _lastBatchSize > 1 ? first.QueuedAt + _options.MaxWait : DateTime.UtcNow;
        while (batch.Count < _options.MaxBatchSize)
        {
            if (reader.TryRead(out var next))
            {
                var cost = Math.Max(longest, _cost(next.Item));
                if ((batch.Count + 1) * cost > _options.MaxBatchTokens)
                {
                    _carried = next;
                    break;
                }

                batch.Add(next);
                longest = cost;
                continue;
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            var more = reader.WaitToReadAsync().AsTask();
            if (await Task.WhenAny(more, Task.Delay(remaining)).ConfigureAwait(false) != more || !await more.ConfigureAwait(false))
            {
                break;
            }
        }

        _lastBatchSize = batch.Count;
        return batch;
    }

    private void Execute(List<Pending> batch)
    {
        batch.RemoveAll(p =>
        {
            if (p.Cancellation.IsCancellationRequested)
            {
                p.Completion.TrySetCanceled(p.Cancellation);
                return true;
            }

            return false;
        });
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            _onBatch?.Invoke(batch.Count);
            var results = _execute(batch.Select(p => p.Item).ToList());
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Completion.TrySetResult(results[i]);
            }
        }
        catch (Exception e)
        {
            foreach (var p in batch)
            {
                p.Completion.TrySetException(e);
            }
        }
    }

    /// <summary>Stops taking work, finishes what is queued, then returns.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);

        // Passes still running on pool threads finish before disposal returns.
        for (var i = 0; i < _concurrency; i++)
        {
            await _running.WaitAsync().ConfigureAwait(false);
        }
    }

    private sealed class Pending(TItem item, CancellationToken cancellation)
    {
        public TItem Item { get; } = item;

        public CancellationToken Cancellation { get; } = cancellation;

        public TaskCompletionSource<TResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public DateTime QueuedAt { get; } = DateTime.UtcNow;
    }
}
