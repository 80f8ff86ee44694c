// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// The read-only view of the engine's state a backend needs: a domain's effective permissions and device owners. The
/// <see cref="Monitor"/> facade passes an adapter over its <see cref="CapabilityEngine"/>; tests and tools can pass plain lists.
/// </summary>
public interface IEngineView
{
    /// <summary>Whether <paramref name="domain"/> designates a live domain.</summary>
    /// <param name="domain">The domain.</param>
    /// <returns><see langword="true"/> when it is live.</returns>
    bool IsLive(DomainHandle domain);

    /// <summary>Number of effective permission ranges of <paramref name="domain"/> (0 for a dead domain).</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>The count.</returns>
    int GetPermissionCount(DomainHandle domain);

    /// <summary>Copies the effective permissions of <paramref name="domain"/>: sorted, disjoint <c>[Start, End)</c> ranges with their rights.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="destination">Receives the ranges.</param>
    /// <param name="written">Number of ranges written.</param>
    /// <returns><see langword="false"/> when the domain is dead or <paramref name="destination"/> is too small (nothing written).</returns>
    bool TryGetPermissions(DomainHandle domain, Span<MemoryPermission> destination, out int written);

    /// <summary>The owner of a device.</summary>
    /// <param name="device">The PCI function.</param>
    /// <param name="owner">Its owner domain.</param>
    /// <returns><see langword="false"/> when the device is unknown or has no live owner.</returns>
    bool TryGetDeviceOwner(DeviceId device, out DomainHandle owner);
}
