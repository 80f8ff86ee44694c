// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests;

/// <summary>
/// An <see cref="IEngineView"/> over plain permission lists and device owners, for backend tests and benchmarks that run
/// without an engine (also compiled into test/Tyche.Benchmarks).
/// </summary>
internal class ListEngineView : IEngineView
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
}
