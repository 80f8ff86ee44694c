// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// Bad input gets the exact typed <see cref="CapabilityError"/> and changes nothing (dump, free capacities and queue
/// compared): stale and never-issued domain handles, freed and out-of-range local indices, inverted ranges, ranges at
/// the top of the address space, rights escalation, every pool exhausted in turn, too-small destination spans.
/// </summary>
public sealed class BadInputTests
{
    private static readonly AccessRights Page = new(0x100, 0x200, MemoryOperations.All);

    public static TheoryData<int, uint> ForgedHandles => new()
    {
        { -1, uint.MaxValue }, // DomainHandle.Invalid
        { 31, 0 },             // never issued
        { 32, 0 },             // index == capacity
        { int.MaxValue, 0 },
        { int.MinValue, 7 },
        { 0, 1 },              // d0's slot, wrong generation
    };

    [Theory]
    [MemberData(nameof(ForgedHandles))]
    public void Forged_domain_handles_are_StaleDomain_everywhere(int index, uint generation)
    {
        var b = new Booted();
        var h = new DomainHandle(index, generation);
        AssertStaleEverywhere(b, h);
    }

    [Fact]
    public void Handles_of_revoked_domains_are_StaleDomain_everywhere_even_after_the_slot_is_reused()
    {
        var b = new Booted();
        b.Child(out DomainHandle child);
        Check.Ok(b.Engine.TryRevokeDomain(child));
        b.Drain();
        Assert.False(b.Engine.IsLive(child));
        AssertStaleEverywhere(b, child);
        b.Child(out DomainHandle reused);
        Assert.Equal(child.Index, reused.Index);
        Assert.NotEqual(child.Generation, reused.Generation);
        b.Drain();
        AssertStaleEverywhere(b, child);
    }

    private static void AssertStaleEverywhere(Booted b, DomainHandle h)
    {
        CapabilityEngine e = b.Engine;
        const CapabilityError S = CapabilityError.StaleDomain;
        Assert.False(e.IsLive(h));
        Check.FailsAtomically(e, S, () => e.TryStartDomainOnCore(h, 1));
        Check.FailsAtomically(e, S, () => e.TryCreateDomain(h, out _));
        Check.FailsAtomically(e, S, () => e.TryCreateIoDomain(h, out _));
        Check.FailsAtomically(e, S, () => e.TryGetDomainHandle(h, 0, out _));
        Check.FailsAtomically(e, S, () => e.TryRevokeDomain(h));
        Check.FailsAtomically(e, S, () => e.TrySetChildConfiguration(h, 0, ConfigurationBitmap.Core, 0));
        Check.FailsAtomically(e, S, () => e.TrySetDomainConfiguration(h, ConfigurationBitmap.Core, 0));
        Check.FailsAtomically(e, S, () => e.TryGetDomainConfiguration(h, ConfigurationBitmap.Core, out _));
        Check.FailsAtomically(e, S, () => e.TrySeal(h, 0, 0, out _));
        Check.FailsAtomically(e, S, () => e.TryGetDomainInfo(h, out _));
        Check.FailsAtomically(e, S, () => e.TrySetMeasurement(h, RegionHash.Filled(1)));
        Check.FailsAtomically(e, S, () => e.TryGetMeasurement(h, out _, out _));
        // The reference's create_root_region returns InvalidCapa for a stale handle (notes §2.2); the engine keeps that.
        Check.FailsAtomically(e, CapabilityError.InvalidCapa, () => e.TryCreateRootRegion(h, Page, out _));
        Check.FailsAtomically(e, S, () => e.TryAlias(h, 0, Page, out _));
        Check.FailsAtomically(e, S, () => e.TryCarve(h, 0, Page, CleanupPolicy.Zero, out _));
        Check.FailsAtomically(e, S, () => e.TryCreateRevokeCapability(h, 0, out _));
        Check.FailsAtomically(e, S, () => e.TryDuplicate(h, 0, out _));
        Check.FailsAtomically(e, S, () => e.TrySend(h, 0, 1, out _));
        Check.FailsAtomically(e, S, () => e.TrySendWithHash(h, 0, 1, RegionHash.Filled(2), out _));
        Check.FailsAtomically(e, S, () => e.TryShare(h, 0, Page, 1, out _, out _));
        Check.FailsAtomically(e, S, () => e.TryGrant(h, 0, Page, 1, out _, out _));
        Check.FailsAtomically(e, S, () => e.TryRevoke(h, 0));
        Check.FailsAtomically(e, S, () => e.TryGetEffectiveRegions(h, 0, new AccessRights[4], out _));
        Check.FailsAtomically(e, S, () => e.TryGetRegionInfo(h, 0, out _, out _, out _, out _));
        Check.FailsAtomically(e, S, () => e.TryCreateRootDevice(h, new DeviceId(0, 0, 1, 0), out _));
        Check.FailsAtomically(e, S, () => e.TryCreateSwitch(h, 0, out _));
        Check.FailsAtomically(e, S, () => e.TrySwitch(h, 0, 0));
        Check.FailsAtomically(e, S, () => e.TryHandleTrap(h, 0, 1, 0));
        Check.FailsAtomically(e, S, () => e.TryHandleViolation(h, 0));
        Check.FailsAtomically(e, S, () => e.TryConditionalPermissionUpdate(h));
        Check.FailsAtomically(e, S, () => e.TryGetCapabilityInfo(h, 0, out _));
        Check.FailsAtomically(e, S, () => e.TryGetPermissions(h, new MemoryPermission[4], out _));
        Check.FailsAtomically(e, S, () => e.TryGetTrackerSegments(h, new TrackerSegment[4], out _));
        EngineState before = EngineState.Capture(e);
        int token = 0;
        Assert.False(e.TryEnumerate(h, ref token, out _, out _));
        Assert.Equal(0, e.GetDevices(h, new DeviceId[4]));
        Assert.Equal(0, e.GetPermissionCount(h));
        Assert.Equal(0, e.GetTrackerSegmentCount(h));
        Assert.Equal(before, EngineState.Capture(e));
    }

    public static TheoryData<int> BadIndices => new() { -1, -2, int.MinValue, 128, 129, 1000, int.MaxValue, 5 /* free */ };

    [Theory]
    [MemberData(nameof(BadIndices))]
    public void Out_of_range_and_free_local_indices_are_CapabilityDoesNotExist(int index)
    {
        var b = new Booted();
        LocalCapability m = b.Child(out _);
        CapabilityEngine e = b.Engine;
        const CapabilityError N = CapabilityError.CapabilityDoesNotExist;
        Check.FailsAtomically(e, N, () => e.TryGetDomainHandle(b.D0, index, out _));
        Check.FailsAtomically(e, N, () => e.TrySetChildConfiguration(b.D0, index, ConfigurationBitmap.Core, 0));
        Check.FailsAtomically(e, N, () => e.TrySeal(b.D0, 0, index, out _));
        Check.FailsAtomically(e, N, () => e.TryAlias(b.D0, index, Page, out _));
        Check.FailsAtomically(e, N, () => e.TryCarve(b.D0, index, Page, out _));
        Check.FailsAtomically(e, N, () => e.TryCreateRevokeCapability(b.D0, index, out _));
        Check.FailsAtomically(e, N, () => e.TryDuplicate(b.D0, index, out _));
        Check.FailsAtomically(e, N, () => e.TrySend(b.D0, index, m, out _));
        Check.FailsAtomically(e, N, () => e.TrySend(b.D0, b.R0, index, out _));
        Check.FailsAtomically(e, N, () => e.TryShare(b.D0, index, Page, m, out _, out _));
        Check.FailsAtomically(e, N, () => e.TryGrant(b.D0, b.R0, Page, index, out _, out _));
        Check.FailsAtomically(e, N, () => e.TryRevoke(b.D0, index));
        Check.FailsAtomically(e, N, () => e.TrySwitch(b.D0, 0, index));
        Check.FailsAtomically(e, N, () => e.TryGetCapabilityInfo(b.D0, index, out _));
        Check.FailsAtomically(e, N, () => e.TryGetEffectiveRegions(b.D0, index, new AccessRights[4], out _));
        Check.FailsAtomically(e, N, () => e.TryGetRegionInfo(b.D0, index, out _, out _, out _, out _));
    }

    [Fact]
    public void A_freed_slot_is_CapabilityDoesNotExist_and_a_revoked_slot_is_unusable()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out _);
        Check.Ok(e.TryAlias(b.D0, b.R0, Page, out LocalCapability alias));
        Check.Ok(e.TrySend(b.D0, alias, m, out _)); // the slot is freed by the send
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TryRevoke(b.D0, alias));
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TryAlias(b.D0, alias, Page, out _));
        Check.Ok(e.TryAlias(b.D0, b.R0, Page, out LocalCapability second));
        Check.Ok(e.TryRevoke(b.D0, second)); // tombstone until enumeration
        b.Drain();
        // A revoked slot is a tombstone of kind None until enumeration reclaims it.
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TryAlias(b.D0, second, Page, out _));
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TryCreateRevokeCapability(b.D0, second, out _));
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TrySeal(b.D0, 0, second, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidCapa, () => e.TryGetCapabilityInfo(b.D0, second, out _));
        int token = 0;
        while (e.TryEnumerate(b.D0, ref token, out LocalCapability seen, out _))
        {
            Assert.NotEqual(second, seen);
        }

        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TryAlias(b.D0, second, Page, out _));
    }

    [Fact]
    public void Inverted_ranges_are_InvalidOperation()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        var inverted = new AccessRights(0x200, 0x100, MemoryOperations.Read);
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryCreateRootRegion(b.D0, inverted, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryAlias(b.D0, b.R0, inverted, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryCarve(b.D0, b.R0, inverted, out _));
        LocalCapability m = b.Child(out _);
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryShare(b.D0, b.R0, inverted, m, out _, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryGrant(b.D0, b.R0, inverted, m, out _, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation,
            () => e.TryCreateRootRegion(b.D0, new AccessRights(ulong.MaxValue, 0, MemoryOperations.Read), out _));
    }

    [Fact]
    public void Ranges_at_the_top_of_the_address_space_work_and_do_not_overflow()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        const ulong Top = ulong.MaxValue;
        Check.Ok(e.TryCreateRootRegion(b.D0, new AccessRights(Top - 0x1000, Top, MemoryOperations.All), out LocalCapability high));
        Check.Ok(e.TryCarve(b.D0, high, new AccessRights(Top - 0x100, Top, MemoryOperations.Read), out LocalCapability tail));
        Check.Ok(e.TryAlias(b.D0, high, new AccessRights(Top - 0x1000, Top - 0x100, MemoryOperations.Read), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation,
            () => e.TryAlias(b.D0, tail, new AccessRights(Top - 0x100, Top, MemoryOperations.Read | MemoryOperations.Write), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation,
            () => e.TryCarve(b.D0, high, new AccessRights(Top - 0x2000, Top, MemoryOperations.Read), out _));
        Check.Ok(e.TryCreateRootRegion(b.D0, new AccessRights(Top, Top, MemoryOperations.All), out _)); // empty at the very top
        Check.NoViolations(e);
        Span<MemoryPermission> perms = stackalloc MemoryPermission[8];
        Check.Ok(e.TryGetPermissions(b.D0, perms, out int n));
        Assert.Equal(new MemoryPermission(Top - 0x1000, Top - 0x100, MemoryOperations.Rights), perms[n - 2]);
        Assert.Equal(new MemoryPermission(Top - 0x100, Top, MemoryOperations.Read), perms[n - 1]);
        Span<MemoryMapSegment> map = stackalloc MemoryMapSegment[8];
        Check.Ok(e.TryGetMemoryMap(map, out int m));
        Assert.Equal(Top, map[m - 1].End);
        Check.Ok(e.TryRevoke(b.D0, tail));
        Check.NoViolations(e);
        Check.Ok(e.TryGetPermissions(b.D0, perms, out n));
        // The alias keeps [Top-0x1000, Top-0x100) at two references, the returned tail has one: two entries, both RWXS.
        Assert.Equal(new MemoryPermission(Top - 0x100, Top, MemoryOperations.Rights), perms[n - 1]);
        Assert.Equal(new MemoryPermission(Top - 0x1000, Top - 0x100, MemoryOperations.Rights), perms[n - 2]);
    }

    [Fact]
    public void Rights_escalation_is_refused()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        Check.Ok(e.TryCarve(b.D0, b.R0, new AccessRights(0x0, 0x100, MemoryOperations.Read), out LocalCapability ro));
        LocalCapability m = b.Child(out _);
        foreach (MemoryOperations extra in new[] { MemoryOperations.Write, MemoryOperations.Execute, MemoryOperations.Super, MemoryOperations.Rights })
        {
            var access = new AccessRights(0x0, 0x80, MemoryOperations.Read | extra);
            Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryAlias(b.D0, ro, access, out _));
            Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryCarve(b.D0, ro, access, out _));
            Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryShare(b.D0, ro, access, m, out _, out _));
            Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryGrant(b.D0, ro, access, m, out _, out _));
        }

        // Attributes may be added (notes §2.2).
        Check.Ok(e.TryAlias(b.D0, ro, new AccessRights(0x0, 0x80, MemoryOperations.Read | MemoryOperations.Attributes), out _));
        // A child cannot give itself permissions its manager lacks.
        LocalCapability mc = b.Child(out DomainHandle child, permissions: DomainPermissions.Spawn);
        Check.Ok(e.TryCreateDomain(child, out LocalCapability grandchild));
        Check.FailsAtomically(e, CapabilityError.InsufficientPermissions,
            () => e.TrySetChildConfiguration(child, grandchild, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Send));
        Check.FailsAtomically(e, CapabilityError.InsufficientPermissions,
            () => e.TrySetChildConfiguration(child, grandchild, ConfigurationBitmap.Core, 0b10));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation,
            () => e.TryCreateManagerDomain((DomainPermissions)0x100, out _));
        _ = mc;
    }

    [Fact]
    public void Bad_configuration_values_and_cores_are_typed_errors()
    {
        var b = new Booted(new EngineCapacities { Cores = 4 });
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child);
        Check.FailsAtomically(e, CapabilityError.InvalidValue, () => e.TrySetChildConfiguration(b.D0, m, (ConfigurationBitmap)(-1), 0));
        Check.FailsAtomically(e, CapabilityError.InvalidValue, () => e.TrySetDomainConfiguration(child, (ConfigurationBitmap)3, 0));
        Check.FailsAtomically(e, CapabilityError.InvalidValue, () => e.TryGetDomainConfiguration(child, (ConfigurationBitmap)99, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TrySetDomainConfiguration(child, ConfigurationBitmap.Permission, 1UL << 63));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(child, -1));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(child, 4)); // reference off-by-one: == NB_CORES panics
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(child, int.MaxValue));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryGetRunningDomain(4, out _));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryGetRunningDomain(-1, out _));
        Assert.Equal(0, e.GetDomainsAllowedOnCore(64, new DomainHandle[4]));
        Assert.Equal(0, e.GetDomainsAllowedOnCore(-1, new DomainHandle[4]));
    }

    [Fact]
    public void Every_pool_exhausted_in_turn_gives_OutOfMemory_or_UpdateQueueFull_and_changes_nothing()
    {
        // Domains
        var d = new Booted(new EngineCapacities { Domains = 2 });
        Check.Ok(d.Engine.TryCreateDomain(d.D0, out _));
        Check.FailsAtomically(d.Engine, CapabilityError.OutOfMemory, () => d.Engine.TryCreateDomain(d.D0, out _));
        // Capability slots
        var c = new Booted(new EngineCapacities { CapabilitiesPerDomain = 3 });
        Assert.Equal(2, c.FillTable(c.D0, c.R0));
        Check.FailsAtomically(c.Engine, CapabilityError.OutOfMemory, () => c.Engine.TryCreateSwitch(c.D0, 0, out _));
        // Region nodes
        var r = new Booted(new EngineCapacities { Regions = 2 });
        Check.Ok(r.Engine.TryCarve(r.D0, r.R0, Page, out _));
        Check.FailsAtomically(r.Engine, CapabilityError.OutOfMemory, () => r.Engine.TryAlias(r.D0, r.R0, Page, out _));
        // Tracker nodes
        var t = new Booted(new EngineCapacities { TrackerNodes = 1 });
        Check.FailsAtomically(t.Engine, CapabilityError.OutOfMemory,
            () => t.Engine.TryAlias(t.D0, t.R0, new AccessRights(0x100, 0x200, MemoryOperations.Read), out _));
        Check.FailsAtomically(t.Engine, CapabilityError.OutOfMemory,
            () => t.Engine.TryCreateRootRegion(t.D0, new AccessRights(0x5000, 0x6000, MemoryOperations.Read), out _));
        // Devices
        var v = new Booted(new EngineCapacities { Devices = 1 });
        Check.Ok(v.Engine.TryCreateRootDevice(v.D0, new DeviceId(0, 1, 0, 0), out _));
        Check.FailsAtomically(v.Engine, CapabilityError.OutOfMemory, () => v.Engine.TryCreateRootDevice(v.D0, new DeviceId(0, 1, 1, 0), out _));
        // Update queue
        var q = new Booted(new EngineCapacities { PendingUpdates = 2 });
        q.Child(out DomainHandle trapper, traps: 1);
        q.FillQueue(trapper);
        Check.FailsAtomically(q.Engine, CapabilityError.UpdateQueueFull, () => q.Engine.TryHandleTrap(trapper, 0, 1, 0));
        Check.FailsAtomically(q.Engine, CapabilityError.UpdateQueueFull, () => q.Engine.TryCreateDomain(q.D0, out _));
    }

    [Fact]
    public void Too_small_destination_spans_give_OutOfMemory_and_write_nothing()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        Check.Ok(e.TryCarve(b.D0, b.R0, Page, out _));
        Check.Ok(e.TryCarve(b.D0, b.R0, new AccessRights(0x400, 0x500, MemoryOperations.Read), out _));
        LocalCapability m = b.Child(out _);
        _ = m;
        Assert.True(e.GetPermissionCount(b.D0) >= 2);
        var perms = new MemoryPermission[1];
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TryGetPermissions(b.D0, perms, out _));
        Assert.Equal(default, perms[0]);
        var segs = new TrackerSegment[1];
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TryGetTrackerSegments(b.D0, segs, out _));
        Assert.Equal(default, segs[0]);
        var map = new MemoryMapSegment[1];
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TryGetMemoryMap(map, out _));
        Assert.Equal(default, map[0]);
        var pieces = new AccessRights[1];
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TryGetEffectiveRegions(b.D0, b.R0, pieces, out _));
        Assert.Equal(default, pieces[0]);
        var bytes = new byte[e.GetAttestationLength() - 1];
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TrySerializeAttestation(bytes, out _));
        Assert.All(bytes, x => Assert.Equal(0, x));
    }
}
