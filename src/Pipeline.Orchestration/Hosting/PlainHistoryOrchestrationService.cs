using System.Collections.Concurrent;
using DurableTask.Core;
using DurableTask.Core.History;

namespace Pipeline.Orchestration.Hosting;

/// <summary>
/// Sits between the gRPC task-hub server and the Azure Storage backend. The server records sub-orchestration starts as
/// its own subclass of SubOrchestrationInstanceCreatedEvent, which the backend's table writer stores without its
/// fields (the row then lacks EventType and the parent can never replay). Before a work item is committed, such
/// events are swapped for the plain DurableTask.Core type; everything else passes through.
/// It also lets the local host stop gracefully: <see cref="DrainAsync"/> stops handing out work items and waits for
/// the ones in flight, so none is left locked (invisible in its queue until the visibility timeout) when the
/// worker goes away, and a host restarted on the same task hub continues at once.
/// </summary>
public sealed class PlainHistoryOrchestrationService(IOrchestrationService inner) : IOrchestrationService
{
    public int TaskOrchestrationDispatcherCount => inner.TaskOrchestrationDispatcherCount;

    public int MaxConcurrentTaskOrchestrationWorkItems => inner.MaxConcurrentTaskOrchestrationWorkItems;

    public BehaviorOnContinueAsNew EventBehaviourForContinueAsNew => inner.EventBehaviourForContinueAsNew;

    public int TaskActivityDispatcherCount => inner.TaskActivityDispatcherCount;

    public int MaxConcurrentTaskActivityWorkItems => inner.MaxConcurrentTaskActivityWorkItems;

    public Task StartAsync() => inner.StartAsync();

    private readonly object _stopGate = new();
    private readonly ConcurrentDictionary<object, byte> _inFlight = new(ReferenceEqualityComparer.Instance);
    private volatile bool _draining;
    private Task? _stopping;

    /// <summary>Work items locked and not yet completed, abandoned or released.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>
    /// Stops handing out new work items (the dispatchers see empty fetches) and waits until those in flight are done
    /// or <paramref name="timeout"/> passes. Returns whether everything in flight finished.
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan timeout)
    {
        _draining = true;
        var deadline = DateTime.UtcNow + timeout;
        while (!_inFlight.IsEmpty)
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return true;
    }

    public Task StopAsync() => StopAsync(isForced: false);

    /// <summary>
    /// Stops the backend once; later calls return the same task. The task-hub server stops the engine when the web
    /// host shuts down without awaiting the drain; the local host awaits this task so that a host started next in the
    /// same task hub never overlaps the old engine's drain and lease release.
    /// </summary>
    public Task StopAsync(bool isForced)
    {
        lock (_stopGate)
        {
            return _stopping ??= inner.StopAsync(isForced);
        }
    }

    public Task CreateAsync() => inner.CreateAsync();

    public Task CreateAsync(bool recreateInstanceStore) => inner.CreateAsync(recreateInstanceStore);

    public Task CreateIfNotExistsAsync() => inner.CreateIfNotExistsAsync();

    public Task DeleteAsync() => inner.DeleteAsync();

    public Task DeleteAsync(bool deleteInstanceStore) => inner.DeleteAsync(deleteInstanceStore);

    public bool IsMaxMessageCountExceeded(int currentMessageCount, OrchestrationRuntimeState runtimeState) =>
        inner.IsMaxMessageCountExceeded(currentMessageCount, runtimeState);

    public int GetDelayInSecondsAfterOnProcessException(Exception exception) => inner.GetDelayInSecondsAfterOnProcessException(exception);

    public int GetDelayInSecondsAfterOnFetchException(Exception exception) => inner.GetDelayInSecondsAfterOnFetchException(exception);

    public async Task<TaskOrchestrationWorkItem> LockNextTaskOrchestrationWorkItemAsync(TimeSpan receiveTimeout, CancellationToken cancellationToken)
    {
        if (_draining)
        {
            return await Idle<TaskOrchestrationWorkItem>(receiveTimeout, cancellationToken).ConfigureAwait(false);
        }

        var item = await inner.LockNextTaskOrchestrationWorkItemAsync(receiveTimeout, cancellationToken).ConfigureAwait(false);
        return Track(item);
    }

    public Task RenewTaskOrchestrationWorkItemLockAsync(TaskOrchestrationWorkItem workItem) => inner.RenewTaskOrchestrationWorkItemLockAsync(workItem);

    public Task CompleteTaskOrchestrationWorkItemAsync(
        TaskOrchestrationWorkItem workItem, OrchestrationRuntimeState newOrchestrationRuntimeState, IList<TaskMessage> outboundMessages,
        IList<TaskMessage> orchestratorMessages, IList<TaskMessage> timerMessages, TaskMessage continuedAsNewMessage, OrchestrationState orchestrationState)
    {
        Plain(newOrchestrationRuntimeState.NewEvents);
        Plain(newOrchestrationRuntimeState.Events);
        if (!ReferenceEquals(workItem.OrchestrationRuntimeState, newOrchestrationRuntimeState) && workItem.OrchestrationRuntimeState is { } current)
        {
            Plain(current.NewEvents);
            Plain(current.Events);
        }

        return inner.CompleteTaskOrchestrationWorkItemAsync(
            workItem, newOrchestrationRuntimeState, outboundMessages, orchestratorMessages, timerMessages, continuedAsNewMessage, orchestrationState);
    }

    public Task AbandonTaskOrchestrationWorkItemAsync(TaskOrchestrationWorkItem workItem) => inner.AbandonTaskOrchestrationWorkItemAsync(workItem);

    /// <summary>The dispatcher's last call for every orchestration work item (after complete or abandon).</summary>
    public async Task ReleaseTaskOrchestrationWorkItemAsync(TaskOrchestrationWorkItem workItem)
    {
        try
        {
            await inner.ReleaseTaskOrchestrationWorkItemAsync(workItem).ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(workItem, out _);
        }
    }

    public async Task<TaskActivityWorkItem> LockNextTaskActivityWorkItem(TimeSpan receiveTimeout, CancellationToken cancellationToken)
    {
        if (_draining)
        {
            return await Idle<TaskActivityWorkItem>(receiveTimeout, cancellationToken).ConfigureAwait(false);
        }

        var item = await inner.LockNextTaskActivityWorkItem(receiveTimeout, cancellationToken).ConfigureAwait(false);
        return Track(item);
    }

    public Task<TaskActivityWorkItem> RenewTaskActivityWorkItemLockAsync(TaskActivityWorkItem workItem) => inner.RenewTaskActivityWorkItemLockAsync(workItem);

    public async Task CompleteTaskActivityWorkItemAsync(TaskActivityWorkItem workItem, TaskMessage responseMessage)
    {
        try
        {
            await inner.CompleteTaskActivityWorkItemAsync(workItem, responseMessage).ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(workItem, out _);
        }
    }

    public async Task AbandonTaskActivityWorkItemAsync(TaskActivityWorkItem workItem)
    {
        try
        {
            await inner.AbandonTaskActivityWorkItemAsync(workItem).ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(workItem, out _);
        }
    }

    private T Track<T>(T item)
        where T : class
    {
        if (item is not null)
        {
            _inFlight.TryAdd(item, 0);
        }

        return item!;
    }

    /// <summary>An empty fetch while draining, paced like a real receive so the dispatcher loop does not spin.</summary>
    private static async Task<T> Idle<T>(TimeSpan receiveTimeout, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            await Task.Delay(receiveTimeout < TimeSpan.FromSeconds(1) ? receiveTimeout : TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        return null!;
    }

    private static void Plain(IList<HistoryEvent>? events)
    {
        if (events is null || events.IsReadOnly)
        {
            return;
        }

        for (var i = 0; i < events.Count; i++)
        {
            if (events[i] is SubOrchestrationInstanceCreatedEvent created && created.GetType() != typeof(SubOrchestrationInstanceCreatedEvent))
            {
                events[i] = new SubOrchestrationInstanceCreatedEvent(created.EventId)
                {
                    Name = created.Name,
                    Version = created.Version,
                    InstanceId = created.InstanceId,
                    Input = created.Input,
                    Timestamp = created.Timestamp,
                    IsPlayed = created.IsPlayed,
                    Tags = created.Tags,
                    ClientSpanId = created.ClientSpanId,
                };
            }
        }
    }
}
