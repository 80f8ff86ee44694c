// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// One or more tests per SPEC §1 fix. Each would fail on the reference engine (tyche-devel bee1d566); the comment
/// says what the reference does instead (notes §7).
/// </summary>
public sealed class ReferenceFixTests
{
    private static readonly AccessRights Page = new(0x200, 0x300, MemoryOperations.All);

    // ---------------------------------------------------------------- Fix 1: atomicity

    [Fact]
    public void Fix1_Atomicity_create_domain_with_a_full_table_leaks_no_domain_slot()
    {
        // Reference: the domain is allocated before the Management insert fails; the slot leaks (notes §7.15).
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 2 });
        b.FillTable(b.D0, b.R0);
        int free = b.Engine.GetFreeCapacity().Domains;
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCreateDomain(b.D0, out _));
        Assert.Equal(free, b.Engine.GetFreeCapacity().Domains);
    }

    [Fact]
    public void Fix1_Atomicity_failed_management_send_keeps_the_capability()
    {
        // Reference: send removes the capability first, then the core-map check fails: the capability is lost (§7.3).
        var b = new Booted();
        LocalCapability narrow = b.Child(out _, cores: 0b1);
        LocalCapability wide = b.Child(out _, cores: 0b11);
        Check.FailsAtomically(b.Engine, CapabilityError.InsufficientPermissions, () => b.Engine.TrySend(b.D0, wide, narrow, out _));
        Check.Ok(b.Engine.TryGetCapabilityInfo(b.D0, wide, out CapabilityInfo info));
        Assert.Equal(CapabilityKind.Management, info.Kind);
    }

    [Fact]
    public void Fix1_Atomicity_tracker_exhaustion_in_the_middle_of_a_carve_rolls_back()
    {
        // Reference: remove_region succeeded, add_region fails: partial tracker, no rollback (§7.16).
        var b = new Booted(new EngineCapacities { TrackerNodes = 2 });
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory,
            () => b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.Read), out _));
        Assert.Equal(1, b.Engine.GetTrackerSegmentCount(b.D0));
    }

    [Fact]
    public void Fix1_Atomicity_revoking_a_domain_with_a_self_carve_at_a_region_start_succeeds_completely()
    {
        // Reference: RevokeDomain is emitted, then remove_region finds a hole at the start and fails halfway,
        // leaving the domain allocated, flagged and its regions leaked (§7.5).
        var b = new Booted();
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x0, 0x400, MemoryOperations.All), out LocalCapability c));
        Check.Ok(b.Engine.TrySend(b.D0, c, m, out LocalCapability inChild));
        Check.Ok(b.Engine.TryCarve(child, inChild, new AccessRights(0x0, 0x100, MemoryOperations.Read), out _));
        b.Drain();
        FreeCapacity before = b.Engine.GetFreeCapacity();
        Check.Ok(b.Engine.TryRevokeDomain(child));
        Assert.False(b.Engine.IsLive(child));
        FreeCapacity after = b.Engine.GetFreeCapacity();
        Assert.Equal(before.Domains + 1, after.Domains);
        Assert.Equal(before.Regions + 2, after.Regions);
        Check.NoViolations(b.Engine);
        Span<TrackerSegment> segments = stackalloc TrackerSegment[4];
        Check.Ok(b.Engine.TryGetTrackerSegments(b.D0, segments, out int n));
        Assert.Equal(1, n);
        Assert.Equal(new TrackerSegment(0, 0x1000, 1, 1, 1, 1, 1), segments[0]);
    }

    [Fact]
    public void Fix1_Atomicity_a_full_update_queue_is_an_error_not_a_panic_and_changes_nothing()
    {
        // Reference: push(...).unwrap() panics when the 128-entry buffer is full (§1.2, §7.16).
        var b = new Booted(new EngineCapacities { PendingUpdates = 2 });
        b.Child(out DomainHandle trapper, traps: 1);
        b.FillQueue(trapper);
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TryCreateDomain(b.D0, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TryRevokeDomain(trapper));
    }

    // ---------------------------------------------------------------- Fix 2: no crashes on bad input

    [Fact]
    public void Fix2_NoCrash_stale_domain_handle_is_StaleDomain()
    {
        // Reference: engine[D] with a revoked D panics "Invalid generation" (§7.7).
        var b = new Booted();
        b.Child(out DomainHandle child);
        Check.Ok(b.Engine.TryRevokeDomain(child));
        Check.FailsAtomically(b.Engine, CapabilityError.StaleDomain, () => b.Engine.TryAlias(child, 0, Page, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.StaleDomain, () => b.Engine.TryGetDomainConfiguration(child, ConfigurationBitmap.Core, out _));
    }

    [Fact]
    public void Fix2_NoCrash_local_index_beyond_the_table_is_CapabilityDoesNotExist()
    {
        // Reference: capas[i] with i >= 128 panics on the array bound (§1.6).
        var b = new Booted();
        Check.FailsAtomically(b.Engine, CapabilityError.CapabilityDoesNotExist, () => b.Engine.TryRevoke(b.D0, 128));
        Check.FailsAtomically(b.Engine, CapabilityError.CapabilityDoesNotExist, () => b.Engine.TryAlias(b.D0, -1, Page, out _));
    }

    [Fact]
    public void Fix2_NoCrash_revoking_a_domain_that_owns_a_root_region_is_OwnsRootRegion()
    {
        // Reference: segment::revoke panics "Trying to revoke a root region" (§7.6).
        var b = new Booted();
        b.Child(out DomainHandle child);
        Check.Ok(b.Engine.TryCreateRootRegion(child, new AccessRights(0x10000, 0x11000, MemoryOperations.All), out _));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.OwnsRootRegion, () => b.Engine.TryRevokeDomain(child));
    }

    [Fact]
    public void Fix2_NoCrash_revoking_ones_own_vital_region_is_RevokesOwnVitalRegion()
    {
        // Reference: segment::revoke kills the owner, then revoke_capa indexes the dead domain's table and panics (§7.4).
        // (A running caller gets DomainRunning first, fix 6; here the owner is a child that does not run.)
        var b = new Booted();
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.All), out LocalCapability c));
        Check.Ok(b.Engine.TrySend(b.D0, c, m, out LocalCapability inChild));
        Check.Ok(b.Engine.TryCarve(child, inChild, new AccessRights(0x200, 0x300, MemoryOperations.All | MemoryOperations.Vital), out LocalCapability vital));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.RevokesOwnVitalRegion, () => b.Engine.TryRevoke(child, vital));
        Assert.True(b.Engine.IsLive(child));
    }

    [Fact]
    public void Fix2_NoCrash_start_on_core_equal_to_the_core_count_is_InvalidCore()
    {
        // Reference: `core > NB_CORES` lets core == NB_CORES through and then panics on the array index (§7.8).
        var b = new Booted(new EngineCapacities { Cores = 8 });
        b.Child(out DomainHandle child);
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidCore, () => b.Engine.TryStartDomainOnCore(child, 8));
    }

    // ---------------------------------------------------------------- Fix 3: ALIAS bit

    [Fact]
    public void Fix3_AliasBit_alias_requires_ALIAS_not_CARVE()
    {
        // Reference: alias_region checks CARVE (§7.1); a CARVE-only domain could alias and an ALIAS-only one could not.
        var b = new Booted();
        LocalCapability mCarve = b.Child(out DomainHandle carveOnly, permissions: DomainPermissions.Carve);
        LocalCapability mAlias = b.Child(out DomainHandle aliasOnly, permissions: DomainPermissions.Alias);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x0, 0x100, MemoryOperations.All), out LocalCapability r1));
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x100, 0x200, MemoryOperations.All), out LocalCapability r2));
        Check.Ok(b.Engine.TrySend(b.D0, r1, mCarve, out LocalCapability inCarveOnly));
        Check.Ok(b.Engine.TrySend(b.D0, r2, mAlias, out LocalCapability inAliasOnly));
        var sub1 = new AccessRights(0x0, 0x10, MemoryOperations.Read);
        var sub2 = new AccessRights(0x100, 0x110, MemoryOperations.Read);
        Check.FailsAtomically(b.Engine, CapabilityError.InsufficientPermissions, () => b.Engine.TryAlias(carveOnly, inCarveOnly, sub1, out _));
        Check.Ok(b.Engine.TryCarve(carveOnly, inCarveOnly, sub1, out _));
        Check.Ok(b.Engine.TryAlias(aliasOnly, inAliasOnly, sub2, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.InsufficientPermissions,
            () => b.Engine.TryCarve(aliasOnly, inAliasOnly, new AccessRights(0x180, 0x190, MemoryOperations.Read), out _));
    }

    // ---------------------------------------------------------------- Fix 4: no management cycle

    [Fact]
    public void Fix4_NoManagementCycle_a_domain_cannot_become_its_own_manager()
    {
        // Reference: send has no cycle check (TODO); a domain becomes its own manager and find_trap_handler loops (§7.2).
        var b = new Booted();
        LocalCapability m = b.Child(out DomainHandle child);
        Check.FailsAtomically(b.Engine, CapabilityError.ManagementCycle, () => b.Engine.TrySend(b.D0, m, m, out _));
        Check.Ok(b.Engine.TryGetDomainInfo(child, out DomainInfo info));
        Assert.Equal(b.D0, info.Manager);
    }

    [Fact]
    public void Fix4_NoManagementCycle_re_parenting_in_a_deeper_tree_is_allowed_but_self_management_is_not()
    {
        // d0 manages d1 and d2; d0 moves d2 under d1 (fine); d1 creates d3 and moves d3 under d2 (fine). Without
        // channel capabilities only the holder of Management(X) can send it, and it holds channels only to its own
        // children, so the only reachable cycle is sending Management(X) over itself — at any depth.
        var b = new Booted();
        LocalCapability m1 = b.Child(out DomainHandle d1);
        LocalCapability m2 = b.Child(out DomainHandle d2);
        Check.Ok(b.Engine.TrySend(b.D0, m2, m1, out LocalCapability m2InD1));
        LocalCapability m3 = b.Child(out DomainHandle d3, manager: d1);
        Check.Ok(b.Engine.TrySend(d1, m3, m2InD1, out LocalCapability m3InD2));
        Check.Ok(b.Engine.TryGetDomainInfo(d3, out DomainInfo info3));
        Assert.Equal(d2, info3.Manager);
        Check.FailsAtomically(b.Engine, CapabilityError.ManagementCycle, () => b.Engine.TrySend(d2, m3InD2, m3InD2, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.ManagementCycle, () => b.Engine.TrySend(d1, m2InD1, m2InD1, out _));
        Check.NoViolations(b.Engine);
    }

    // ---------------------------------------------------------------- Fix 5: sealed configuration immutable

    [Fact]
    public void Fix5_SealedConfigImmutable_child_and_own_configuration_cannot_change_after_seal()
    {
        // Reference: the sealed check in set_config is commented out (§7.10); a manager could widen a sealed child.
        var b = new Booted();
        b.SealedChild(out DomainHandle child, out LocalCapability m, permissions: DomainPermissions.None);
        foreach (ConfigurationBitmap bitmap in new[] { ConfigurationBitmap.Permission, ConfigurationBitmap.Trap, ConfigurationBitmap.Core })
        {
            Check.FailsAtomically(b.Engine, CapabilityError.AlreadySealed, () => b.Engine.TrySetChildConfiguration(b.D0, m, bitmap, 1));
            Check.FailsAtomically(b.Engine, CapabilityError.AlreadySealed, () => b.Engine.TrySetDomainConfiguration(child, bitmap, 1));
        }

        // The manager domain is sealed at creation.
        Check.FailsAtomically(b.Engine, CapabilityError.AlreadySealed, () => b.Engine.TrySetDomainConfiguration(b.D0, ConfigurationBitmap.Trap, 0));
        Check.Ok(b.Engine.TryGetDomainConfiguration(child, ConfigurationBitmap.Permission, out ulong perms));
        Assert.Equal(0UL, perms);
    }

    // ---------------------------------------------------------------- Fix 6: no revoking running domains

    [Fact]
    public void Fix6_NoRevokingRunningDomains_running_child_cannot_be_revoked_and_no_core_points_at_a_freed_domain()
    {
        // Reference: revoking a running domain succeeds and leaves cores[0] pointing at a freed handle (§7.9).
        var b = new Booted();
        LocalCapability sw = b.SealedChild(out DomainHandle child, out LocalCapability m);
        Check.Ok(b.Engine.TrySwitch(b.D0, 0, sw));
        Check.Ok(b.Engine.TryGetRunningDomain(0, out DomainHandle running));
        Assert.Equal(child, running);
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevokeDomain(child));
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevoke(b.D0, m));
        // Switch back, then revocation works and the core points at a live domain.
        Check.Ok(b.Engine.TryHandleViolation(child, 0));
        Check.Ok(b.Engine.TryRevoke(b.D0, m));
        Check.Ok(b.Engine.TryGetRunningDomain(0, out running));
        Assert.Equal(b.D0, running);
        Assert.True(b.Engine.IsLive(running));
    }

    // ---------------------------------------------------------------- Fix 7: VITAL kept, exact lengths

    [Fact]
    public void Fix7_VitalKept_enumeration_and_register_encoding_keep_VITAL_and_CLEANUP()
    {
        // Reference: CapaInfo::serialize truncates ops << 2 to a u8, dropping VITAL (§7.13).
        var b = new Booted();
        const MemoryOperations Ops = MemoryOperations.Read | MemoryOperations.Cleanup | MemoryOperations.Vital;
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x1000 - 0x100, 0x1000, Ops), out LocalCapability c));
        int token = 0;
        bool found = false;
        while (b.Engine.TryEnumerate(b.D0, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            if (index != c)
            {
                continue;
            }

            found = true;
            Assert.Equal(Ops, info.Operations);
            Assert.Equal(0x1000UL - 0x100, info.Start);
            Assert.Equal(0x1000UL, info.End); // exact end
            info.Serialize(out ulong v1, out ulong v2, out ulong v3);
            Assert.Equal(0xF00UL, v1);
            Assert.Equal(0x1000UL, v2);
            ulong flags = v3 >> 8;
            Assert.Equal((ulong)CapabilityKind.Region, v3 & 0xFF);
            Assert.Equal((ulong)Ops, flags >> 2); // VITAL (bit 6 of ops) survives as bit 8 of the flags
        }

        Assert.True(found);
        Check.Ok(b.Engine.TryGetCapabilityInfo(b.D0, c, out CapabilityInfo direct));
        Assert.Equal(Ops, direct.Operations);
    }

    [Fact]
    public void Fix7_ExactLength_attestation_serialization_reports_the_bytes_written()
    {
        // Reference probe (notes §5.2): this setup serializes to 186 bytes and the reference returns 187.
        var e = new CapabilityEngine();
        Check.Ok(e.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        Check.Ok(e.TryCreateRootRegion(d0, new AccessRights(0x1000, 0x2000, MemoryOperations.Read | MemoryOperations.Write), out LocalCapability r0));
        Check.Ok(e.TryCreateDomain(d0, out LocalCapability m1));
        Check.Ok(e.TryAlias(d0, r0, new AccessRights(0x1000, 0x1100, MemoryOperations.Read), out LocalCapability alias));
        Check.Ok(e.TrySendWithHash(d0, alias, m1, RegionHash.Filled(0xAB), out _));
        Check.Ok(e.TryCarve(d0, r0, new AccessRights(0x1800, 0x1900, MemoryOperations.Read | MemoryOperations.Write), out _));
        int length = e.GetAttestationLength();
        var buffer = new byte[length + 16];
        Check.Ok(e.TrySerializeAttestation(buffer, out int written));
        Assert.Equal(length, written);
        Assert.Equal("capa"u8.ToArray(), buffer[..4]);
        // The reference layout occupies exactly 186 bytes, ending with END (0xFF) at offset 185; this engine appends an
        // extensions section (devices when any, then its own terminator) after it, and reports every byte it wrote.
        Assert.Equal(0xFF, buffer[185]);
        Assert.Equal(0xFF, buffer[184]);
        Assert.True(length > 186);
        Assert.All(buffer[written..], x => Assert.Equal(0, x));
        Check.Ok(e.TrySerializeAttestation(buffer.AsSpan(0, length), out int exact));
        Assert.Equal(length, exact);
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TrySerializeAttestation(new byte[length - 1], out _));
    }
}
