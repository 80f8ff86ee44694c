// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests;

/// <summary>An <see cref="IEngineView"/> over plain permission lists (backend tests without an engine).</summary>
internal sealed class FakeView : IEngineView
{
    public Dictionary<DomainHandle, MemoryPermission[]> Domains { get; } = new();

    public Dictionary<DeviceId, DomainHandle> Owners { get; } = new();

    public bool IsLive(DomainHandle domain) => Domains.ContainsKey(domain);

    public int GetPermissionCount(DomainHandle domain) => Domains.TryGetValue(domain, out MemoryPermission[]? p) ? p.Length : 0;

    public bool TryGetPermissions(DomainHandle domain, Span<MemoryPermission> destination, out int written)
    {
        written = 0;
        if (!Domains.TryGetValue(domain, out MemoryPermission[]? p) || p.Length > destination.Length)
        {
            return false;
        }

        p.CopyTo(destination);
        written = p.Length;
        return true;
    }

    public bool TryGetDeviceOwner(DeviceId device, out DomainHandle owner) => Owners.TryGetValue(device, out owner);

    /// <summary>Admits and applies one batch, then commits; returns the actions.</summary>
    public MonitorActionList Apply(VtxBackend backend, params Update[] updates)
    {
        var actions = new MonitorActionList();
        Assert.True(backend.TryAdmit(this, updates, out BackendRefusal refusal), refusal.ToString());
        Assert.True(backend.TryApply(this, updates, actions, out refusal), refusal.ToString());
        backend.Commit();
        return actions;
    }

    public static Update Permission(DomainHandle d, ulong cores) => new(UpdateKind.PermissionUpdate, d, coreMap: cores);

    public static Update Create(DomainHandle d) => new(UpdateKind.CreateDomain, d);

    public static Update Switch(DomainHandle d, int core) => new(UpdateKind.Switch, d, core: core);

    public static Update Device(DeviceId device, DomainHandle d) => new(UpdateKind.DeviceUpdate, d, device: device);

    public static Update Revoke(DomainHandle d) => new(UpdateKind.RevokeDomain, d);
}
