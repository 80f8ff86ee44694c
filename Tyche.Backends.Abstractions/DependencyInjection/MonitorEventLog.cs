// SPDX-License-Identifier: Apache-2.0
using System;
using Microsoft.Extensions.Logging;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// Logs the domain lifecycle (created, revoked) of operations the <see cref="Monitor"/> facade commits. It takes part in the
/// facade's protocol like a backend that enforces nothing: it notes lifecycle updates while they are applied and logs them
/// only when the operation commits (a refused operation logs nothing). Registered by
/// <see cref="MonitorServiceCollectionExtensions.AddMonitor"/>; no string is formatted unless the log level is enabled.
/// </summary>
internal sealed partial class MonitorEventLog : IIsolationBackend
{
    private readonly ILogger _logger;
    private readonly (UpdateKind Kind, DomainHandle Domain)[] _pending;
    private int _count;
    private int _dropped;

    public MonitorEventLog(ILogger logger, int capacity)
    {
        _logger = logger;
        _pending = new (UpdateKind, DomainHandle)[Math.Max(1, capacity)];
    }

    public string Name => "log";

    /// <summary>Imposes nothing: every address width and granularity is acceptable to a log.</summary>
    public HardwareLimits Limits { get; } = new() { PhysicalAddressBits = 64, GuestAddressBits = 64, Granularity = 1 };

    public bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        return true;
    }

    public bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        _count = 0;
        _dropped = 0;
        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return true;
        }

        foreach (ref readonly Update update in updates)
        {
            if (update.Kind is UpdateKind.CreateDomain or UpdateKind.RevokeDomain)
            {
                if (_count < _pending.Length)
                {
                    _pending[_count++] = (update.Kind, update.Domain);
                }
                else
                {
                    _dropped++;
                }
            }
        }

        return true;
    }

    public void Commit()
    {
        for (int i = 0; i < _count; i++)
        {
            if (_pending[i].Kind == UpdateKind.CreateDomain)
            {
                DomainCreated(_pending[i].Domain);
            }
            else
            {
                DomainRevoked(_pending[i].Domain);
            }
        }

        if (_dropped > 0)
        {
            EventsDropped(_dropped);
        }

        _count = 0;
        _dropped = 0;
    }

    public void Rollback()
    {
        _count = 0;
        _dropped = 0;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Tyche domain {Domain} created")]
    private partial void DomainCreated(DomainHandle domain);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Tyche domain {Domain} revoked")]
    private partial void DomainRevoked(DomainHandle domain);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Count} domain lifecycle events of one operation were not logged")]
    private partial void EventsDropped(int count);
}
