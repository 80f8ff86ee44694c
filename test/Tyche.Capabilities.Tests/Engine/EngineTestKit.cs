// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>Reference display helpers (notes §6 conventions) and the upstream BOOT(N) fixture.</summary>
internal static class Kit
{
    public const MemoryOperations All = MemoryOperations.All;

    public static AccessRights A(ulong start, ulong end, MemoryOperations ops = All) => new(start, end, ops);

    /// <summary>BOOT(N): manager domain with all permissions on core 0 and a root region [0, N) with MEMOPS_ALL.</summary>
    public static (CapabilityEngine Engine, DomainHandle D0, LocalCapability R0) Boot(ulong size, EngineCapacities? capacities = null)
    {
        CapabilityEngine e = new(capacities);
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        e.StartDomainOnCore(d0, 0);
        LocalCapability r0 = e.CreateRootRegion(d0, A(0, size));
        return (e, d0, r0);
    }

    public static string Capas(this CapabilityEngine e, DomainHandle d)
    {
        List<string> parts = [];
        int token = 0;
        while (e.TryEnumerate(d, ref token, out _, out CapabilityInfo info))
        {
            parts.Add(info.ToString());
        }

        return "{" + string.Join(", ", parts) + "}";
    }

    public static string Enumerate(this CapabilityEngine e, DomainHandle d)
    {
        List<string> parts = [];
        int token = 0;
        while (e.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            parts.Add(index + ":" + info);
        }

        return "{" + string.Join(", ", parts) + "}";
    }

    public static string Regions(this CapabilityEngine e, DomainHandle d)
    {
        TrackerSegment[] segments = new TrackerSegment[e.GetTrackerSegmentCount(d)];
        Assert.Equal(CapabilityError.Ok, e.TryGetTrackerSegments(d, segments, out int n));
        Assert.Equal(segments.Length, n);
        return "{" + string.Join(" -> ", Array.ConvertAll(segments, s => s.ToString())) + "}";
    }

    public static string Permissions(this CapabilityEngine e, DomainHandle d)
    {
        MemoryPermission[] p = new MemoryPermission[e.GetPermissionCount(d)];
        Assert.Equal(CapabilityError.Ok, e.TryGetPermissions(d, p, out _));
        return "{" + string.Join(" -> ", Array.ConvertAll(p, s => s.ToString())) + "}";
    }

    public static string Updates(this CapabilityEngine e)
    {
        List<string> parts = [];
        while (e.TryPopUpdate(out Update u))
        {
            parts.Add(u.ToUpstreamString());
        }

        return "{" + string.Join(", ", parts) + "}";
    }

    public static string DetailedUpdates(this CapabilityEngine e)
    {
        List<string> parts = [];
        while (e.TryPopUpdate(out Update u))
        {
            parts.Add(u.ToString());
        }

        return "{" + string.Join(", ", parts) + "}";
    }

    public static void AssertInvariants(this CapabilityEngine e)
    {
        InvariantViolation[] v = new InvariantViolation[16];
        int n = e.CheckInvariants(v);
        Assert.True(n == 0, "invariant violations: " + string.Join("; ", v[..Math.Min(n, v.Length)]));
    }

    /// <summary>Runs a failing operation and checks it returned <paramref name="expected"/> and changed nothing.</summary>
    public static void AssertFailsUnchanged(this CapabilityEngine e, CapabilityError expected, Func<CapabilityError> op)
    {
        string before = e.DumpState();
        Assert.Equal(expected, op());
        Assert.Equal(before, e.DumpState());
    }
}
