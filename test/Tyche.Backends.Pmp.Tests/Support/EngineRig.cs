// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>A real engine behind the Monitor facade with the PMP backend: manager d0 owning RAM, child d1.</summary>
internal sealed class EngineRig
{
    public const ulong RamStart = 0x8000_0000;
    public const ulong RamEnd = 0x8800_0000;

    public EngineRig(PmpHartOptions? options = null, PmpMonitorRegion[]? monitorRegions = null, IIsolationBackend? extra = null)
    {
        Engine = new CapabilityEngine();
        Backend = new PmpBackend(options ?? new PmpHartOptions(), monitorRegions ?? [], coreCount: 2);
        Monitor = new Monitor(Engine, extra is null ? [Backend] : [Backend, extra]);
        Ok(Monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        D0 = d0;
        Ok(Monitor.TryStartDomainOnCore(d0, 0));
        Ok(Monitor.TryCreateRootRegion(d0, new AccessRights(RamStart, RamEnd, MemoryOperations.Rights), out LocalCapability root));
        Root = root;
        Ok(Monitor.TryCreateDomain(d0, out LocalCapability m1));
        M1 = m1;
        Ok(Engine.TryGetDomainHandle(d0, m1, out DomainHandle d1));
        D1 = d1;
    }

    public CapabilityEngine Engine { get; }

    public PmpBackend Backend { get; }

    public Monitor Monitor { get; }

    public DomainHandle D0 { get; }

    public DomainHandle D1 { get; }

    public LocalCapability Root { get; }

    public LocalCapability M1 { get; }

    public static void Ok(CapabilityError e) => Assert.Equal(CapabilityError.Ok, e);

    public MemoryPermission[] Permissions(DomainHandle d)
    {
        var buffer = new MemoryPermission[Math.Max(1, Engine.GetPermissionCount(d))];
        Ok(Engine.TryGetPermissions(d, buffer, out int written));
        return buffer[..written];
    }

    public CapabilityError Share(ulong start, ulong end, MemoryOperations ops, out LocalCapability revoke) =>
        Monitor.TryShare(D0, Root, new AccessRights(start, end, ops), M1, out revoke, out _);

    public PmpImage Image(DomainHandle d)
    {
        Assert.True(Backend.TryGetImage(d, out PmpImage? image));
        return image!;
    }

    /// <summary>The backend's image gives exactly the engine's effective rights at every range boundary and inside.</summary>
    public void AssertImageMatchesEngine(DomainHandle d, PmpImage? image = null)
    {
        image ??= Image(d);
        MemoryPermission[] perms = Permissions(d);
        var points = new List<ulong> { RamStart, RamEnd - 4 };
        foreach (MemoryPermission p in perms)
        {
            points.AddRange([p.Start, p.End - 4, p.Start + ((p.End - p.Start) / 2 & ~3UL)]);
            if (p.Start >= 4)
            {
                points.Add(p.Start - 4);
            }

            points.Add(p.End);
        }

        foreach (ulong a in points)
        {
            foreach (AccessKind k in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Execute })
            {
                bool expected = Ranges.Expected(perms, [], a, k, PrivilegeMode.Supervisor);
                Assert.True(expected == PmpReferenceWalker.Allows(image, 56, a, 4, k, PrivilegeMode.Supervisor),
                    $"{d} {k} at 0x{a:x}: engine {expected}; ranges [{string.Join(", ", perms)}]\n{image}");
            }
        }
    }
}
