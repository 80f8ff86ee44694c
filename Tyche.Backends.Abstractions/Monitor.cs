// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// The facade that composes a <see cref="CapabilityEngine"/> and a set of <see cref="IIsolationBackend"/>s atomically.
/// Every operation: open an engine transaction → run the engine operation → drain the updates it queued → every backend admits the new state
/// → every backend applies the updates (FIFO) → commit engine and backends, then run cleanups; or, on any refusal, roll back the
/// backends and the engine so that engine state, update queue and hardware tables are exactly as before.
/// </summary>
/// <remarks>
/// Use the convenience methods (<see cref="TryShare"/>, <see cref="TryRevoke"/>, …) or bracket any engine call with
/// <see cref="Begin"/> and <see cref="Complete"/>. After an <see cref="CapabilityError.Ok"/> result, <see cref="Actions"/> holds what the
/// monitor must do; after <see cref="CapabilityError.RejectedByBackend"/>, <see cref="LastRefusal"/> says which backend refused and why.
/// Once warm (update buffer and action list at their working size) an operation allocates nothing.
/// </remarks>
public sealed class Monitor
{
    private readonly IIsolationBackend[] _backends;
    private readonly IMemoryCleaner? _cleaner;
    private readonly CapabilityEngineView _view;
    private readonly Update[] _updates;
    private int _updateCount;
    private bool _open;

    /// <summary>Creates a facade.</summary>
    /// <param name="engine">The engine (used only through this facade from now on).</param>
    /// <param name="backends">The backends, applied in this order.</param>
    /// <param name="cleaner">Executes <see cref="UpdateKind.Cleanup"/> updates (e.g. a <see cref="PhysicalMemory"/>); null to only report them.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public Monitor(CapabilityEngine engine, IEnumerable<IIsolationBackend> backends, IMemoryCleaner? cleaner = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(backends);
        Engine = engine;
        _backends = [.. backends];
        foreach (IIsolationBackend b in _backends)
        {
            ArgumentNullException.ThrowIfNull(b, nameof(backends));
        }

        _cleaner = cleaner;
        _view = new CapabilityEngineView(engine);
        _updates = new Update[Math.Max(1, engine.Capacities.PendingUpdates)];
    }

    /// <summary>The engine.</summary>
    public CapabilityEngine Engine { get; }

    /// <summary>The engine view handed to backends.</summary>
    public IEngineView View => _view;

    /// <summary>The backends, in application order.</summary>
    public IReadOnlyList<IIsolationBackend> Backends => _backends;

    /// <summary>The actions of the last successful operation (cleared at the start of each operation).</summary>
    public MonitorActionList Actions { get; } = new();

    /// <summary>The updates the last successful operation consumed, in FIFO order.</summary>
    public ReadOnlySpan<Update> LastUpdates => _updates.AsSpan(0, _updateCount);

    /// <summary>Why the last operation was refused by a backend (<see cref="BackendRefusal.None"/> otherwise).</summary>
    public BackendRefusal LastRefusal { get; private set; }

    /// <summary>Opens an operation: an engine transaction. Follow with exactly one engine call and <see cref="Complete"/>.</summary>
    /// <exception cref="InvalidOperationException">An operation is already open.</exception>
    public void Begin()
    {
        if (_open)
        {
            throw new InvalidOperationException("A monitor operation is already open; call Complete first.");
        }

        Engine.BeginTransaction();
        _open = true;
        Actions.Clear();
        _updateCount = 0;
        LastRefusal = BackendRefusal.None;
    }

    /// <summary>
    /// Closes the operation opened by <see cref="Begin"/>: when <paramref name="engineResult"/> is <see cref="CapabilityError.Ok"/>, the updates
    /// are admitted and applied by every backend and everything commits; otherwise, or if a backend refuses, everything is rolled back.
    /// </summary>
    /// <param name="engineResult">The engine call's result.</param>
    /// <returns><paramref name="engineResult"/>, or <see cref="CapabilityError.RejectedByBackend"/> (see <see cref="LastRefusal"/>).</returns>
    /// <exception cref="InvalidOperationException">No operation is open.</exception>
    public CapabilityError Complete(CapabilityError engineResult)
    {
        if (!_open)
        {
            throw new InvalidOperationException("No monitor operation is open; call Begin first.");
        }

        _open = false;
        if (engineResult != CapabilityError.Ok)
        {
            Engine.RollbackTransaction();
            return engineResult;
        }

        // Drain inside the transaction: a rollback puts the updates back in the queue exactly as they were.
        _updateCount = Engine.DrainUpdates(_updates);
        ReadOnlySpan<Update> updates = _updates.AsSpan(0, _updateCount);
        try
        {
            foreach (IIsolationBackend backend in _backends)
            {
                if (!backend.TryAdmit(_view, updates, out BackendRefusal refusal))
                {
                    return Refuse(refusal, applied: 0);
                }
            }

            for (int i = 0; i < _backends.Length; i++)
            {
                int mark = Actions.Count;
                if (!_backends[i].TryApply(_view, updates, Actions, out BackendRefusal refusal))
                {
                    Actions.Truncate(mark);
                    return Refuse(refusal, applied: i);
                }
            }
        }
        catch
        {
            // A backend bug must not leave the engine transaction open or tables half-written.
            if (Engine.InTransaction)
            {
                Refuse(BackendRefusal.None, applied: _backends.Length);
            }

            throw;
        }

        Engine.CommitTransaction();
        foreach (IIsolationBackend backend in _backends)
        {
            backend.Commit();
        }

        foreach (ref readonly Update u in updates)
        {
            if (u.Kind == UpdateKind.Cleanup)
            {
                Actions.Add(MonitorAction.Cleanup(u.Start, u.End, u.Policy));
                _cleaner?.Clean(u.Start, u.End, u.Policy);
            }
        }

        return CapabilityError.Ok;
    }

    /// <summary>Creates a manager domain (no parent) through the facade.</summary>
    /// <param name="permissions">Its monitor-call permissions.</param>
    /// <param name="domain">The new domain.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryCreateManagerDomain(DomainPermissions permissions, out DomainHandle domain)
    {
        Begin();
        return Complete(Engine.TryCreateManagerDomain(permissions, out domain));
    }

    /// <summary>Marks a domain as running on a core.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="core">The core.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryStartDomainOnCore(DomainHandle domain, int core)
    {
        Begin();
        return Complete(Engine.TryStartDomainOnCore(domain, core));
    }

    /// <summary>Creates a child domain.</summary>
    /// <param name="manager">The manager.</param>
    /// <param name="management">The management capability in the manager's table.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryCreateDomain(DomainHandle manager, out LocalCapability management)
    {
        Begin();
        return Complete(Engine.TryCreateDomain(manager, out management));
    }

    /// <summary>Revokes a domain.</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryRevokeDomain(DomainHandle domain)
    {
        Begin();
        return Complete(Engine.TryRevokeDomain(domain));
    }

    /// <summary>Creates a root region.</summary>
    /// <param name="domain">The owner.</param>
    /// <param name="access">Range and rights.</param>
    /// <param name="region">The new capability.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryCreateRootRegion(DomainHandle domain, in AccessRights access, out LocalCapability region)
    {
        Begin();
        return Complete(Engine.TryCreateRootRegion(domain, access, out region));
    }

    /// <summary>Aliases a sub-range of a region.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The parent region.</param>
    /// <param name="access">Range and rights.</param>
    /// <param name="alias">The new capability.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryAlias(DomainHandle domain, LocalCapability region, in AccessRights access, out LocalCapability alias)
    {
        Begin();
        return Complete(Engine.TryAlias(domain, region, access, out alias));
    }

    /// <summary>Carves a sub-range of a region.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The parent region.</param>
    /// <param name="access">Range and rights.</param>
    /// <param name="carve">The new capability.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryCarve(DomainHandle domain, LocalCapability region, in AccessRights access, out LocalCapability carve)
    {
        Begin();
        return Complete(Engine.TryCarve(domain, region, access, out carve));
    }

    /// <summary>Sends a capability.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">The capability to send.</param>
    /// <param name="to">Management or channel capability to the receiver.</param>
    /// <param name="received">Its index in the receiver's table.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TrySend(DomainHandle domain, LocalCapability capability, LocalCapability to, out LocalCapability received)
    {
        Begin();
        return Complete(Engine.TrySend(domain, capability, to, out received));
    }

    /// <summary>Aliases, keeps a revoke capability and sends, atomically.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The region to share from.</param>
    /// <param name="access">Range and rights.</param>
    /// <param name="to">Management or channel capability to the receiver.</param>
    /// <param name="revoke">The kept revoke capability.</param>
    /// <param name="received">The receiver's index.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryShare(DomainHandle domain, LocalCapability region, in AccessRights access, LocalCapability to,
        out LocalCapability revoke, out LocalCapability received)
    {
        Begin();
        return Complete(Engine.TryShare(domain, region, access, to, out revoke, out received));
    }

    /// <summary>Carves, keeps a revoke capability and sends, atomically.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The region to grant from.</param>
    /// <param name="access">Range and rights.</param>
    /// <param name="to">Management or channel capability to the receiver.</param>
    /// <param name="revoke">The kept revoke capability.</param>
    /// <param name="received">The receiver's index.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryGrant(DomainHandle domain, LocalCapability region, in AccessRights access, LocalCapability to,
        out LocalCapability revoke, out LocalCapability received)
    {
        Begin();
        return Complete(Engine.TryGrant(domain, region, access, to, out revoke, out received));
    }

    /// <summary>Revokes a capability.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">The capability.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryRevoke(DomainHandle domain, LocalCapability capability)
    {
        Begin();
        return Complete(Engine.TryRevoke(domain, capability));
    }

    /// <summary>Switches a core to a domain.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="core">The core.</param>
    /// <param name="capability">The switch capability.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TrySwitch(DomainHandle domain, int core, LocalCapability capability)
    {
        Begin();
        return Complete(Engine.TrySwitch(domain, core, capability));
    }

    /// <summary>Creates a root device capability.</summary>
    /// <param name="domain">The owner.</param>
    /// <param name="device">The PCI function.</param>
    /// <param name="capability">The new capability.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryCreateRootDevice(DomainHandle domain, DeviceId device, out LocalCapability capability)
    {
        Begin();
        return Complete(Engine.TryCreateRootDevice(domain, device, out capability));
    }

    /// <summary>Queues a permission update for a domain (e.g. after changing a backend's GPA remapping) and applies it.</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>The engine's result or <see cref="CapabilityError.RejectedByBackend"/>.</returns>
    public CapabilityError TryConditionalPermissionUpdate(DomainHandle domain)
    {
        Begin();
        return Complete(Engine.TryConditionalPermissionUpdate(domain));
    }

    private CapabilityError Refuse(in BackendRefusal refusal, int applied)
    {
        for (int j = applied - 1; j >= 0; j--)
        {
            _backends[j].Rollback();
        }

        Engine.RollbackTransaction();
        Actions.Clear();
        _updateCount = 0;
        LastRefusal = refusal;
        return CapabilityError.RejectedByBackend;
    }
}
