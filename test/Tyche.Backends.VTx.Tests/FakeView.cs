// SPDX-License-Identifier: Apache-2.0
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests;

/// <summary>A <see cref="ListEngineView"/> with helpers that drive a <see cref="VtxBackend"/> and build updates.</summary>
internal sealed class FakeView : ListEngineView
{
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
