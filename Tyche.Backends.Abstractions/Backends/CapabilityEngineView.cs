// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>An <see cref="IEngineView"/> over a live <see cref="CapabilityEngine"/> (no copies, no allocation).</summary>
public sealed class CapabilityEngineView : IEngineView
{
    private readonly CapabilityEngine _engine;

    /// <summary>Wraps an engine.</summary>
    /// <param name="engine">The engine.</param>
    /// <exception cref="ArgumentNullException"><paramref name="engine"/> is null.</exception>
    public CapabilityEngineView(CapabilityEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
    }

    /// <inheritdoc />
    public bool IsLive(DomainHandle domain) => _engine.IsLive(domain);

    /// <inheritdoc />
    public int GetPermissionCount(DomainHandle domain) => _engine.IsLive(domain) ? _engine.GetPermissionCount(domain) : 0;

    /// <inheritdoc />
    public bool TryGetPermissions(DomainHandle domain, Span<MemoryPermission> destination, out int written) =>
        _engine.TryGetPermissions(domain, destination, out written) == CapabilityError.Ok;

    /// <inheritdoc />
    public bool TryGetDeviceOwner(DeviceId device, out DomainHandle owner) =>
        _engine.TryGetDeviceOwner(device, out owner) == CapabilityError.Ok && _engine.IsLive(owner);
}
