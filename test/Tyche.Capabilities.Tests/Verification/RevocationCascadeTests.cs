// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// Revocation cascades that re-enter themselves: a VITAL descendant kills the domain that owns an ancestor region
/// which is being revoked at that moment (found by reading the engine while building the model).
/// </summary>
public sealed class RevocationCascadeTests
{
    /// <summary>
    /// d0 grants [0x200, 0x300) to d1 (keeping a revoke capability); d1 carves a VITAL piece of it for itself.
    /// d0 revokes the grant: the cascade revokes the VITAL child first, which revokes d1, whose table still holds the
    /// region being revoked. The revocation must succeed: d1 is gone and d0 has its whole range back.
    /// </summary>
    [Fact]
    public void Manager_revoking_a_grant_whose_vital_descendant_belongs_to_the_same_child_succeeds()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(e.TryGrant(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.All), m, out LocalCapability rv, out LocalCapability inChild));
        Check.Ok(e.TryCarve(child, inChild, new AccessRights(0x280, 0x300, MemoryOperations.Read | MemoryOperations.Vital), out _));
        b.Drain();
        FreeCapacity before = e.GetFreeCapacity();
        Assert.Equal(CapabilityError.Ok, e.TryRevoke(b.D0, rv));
        Assert.False(e.IsLive(child));
        Check.NoViolations(e);
        Span<TrackerSegment> segments = stackalloc TrackerSegment[4];
        Check.Ok(e.TryGetTrackerSegments(b.D0, segments, out int n));
        Assert.Equal(1, n);
        Assert.Equal(new TrackerSegment(0, 0x1000, 1, 1, 1, 1, 1), segments[0]);
        FreeCapacity after = e.GetFreeCapacity();
        Assert.Equal(before.Domains + 1, after.Domains);
        Assert.Equal(before.Regions + 2, after.Regions);
    }

    /// <summary>The same shape, but the child revokes its own ancestor region: it would destroy itself.</summary>
    [Fact]
    public void Child_revoking_its_own_region_with_a_vital_descendant_is_RevokesOwnVitalRegion()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(e.TryGrant(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.All), m, out _, out LocalCapability inChild));
        Check.Ok(e.TryCarve(child, inChild, new AccessRights(0x280, 0x300, MemoryOperations.Read | MemoryOperations.Vital), out _));
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.RevokesOwnVitalRegion, () => e.TryRevoke(child, inChild));
    }

    /// <summary>Revoking the child domain directly walks its table: the outer region and its VITAL child are both there.</summary>
    [Fact]
    public void Revoking_a_domain_that_holds_a_region_and_its_vital_child_succeeds()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(e.TryGrant(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.All), m, out _, out LocalCapability inChild));
        Check.Ok(e.TryCarve(child, inChild, new AccessRights(0x200, 0x280, MemoryOperations.Read | MemoryOperations.Vital), out _));
        b.Drain();
        Assert.Equal(CapabilityError.Ok, e.TryRevokeDomain(child));
        Assert.False(e.IsLive(child));
        Check.NoViolations(e);
    }
}
