// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Tyche.Capabilities.Tests.Model;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// SPEC fix 1 (atomicity): every error path of every operation leaves the engine byte-identical — the internal
/// <c>DumpState()</c> (pools, free lists, generations, trackers, trees, tables, queue), the free capacities and the
/// pending-update count are compared before and after each failing call.
/// </summary>
public sealed class AtomicityTests(ITestOutputHelper output)
{
    private static readonly AccessRights Page = new(0x100, 0x200, MemoryOperations.All);

    // ---------------------------------------------------------------- domains

    [Fact]
    public void Create_manager_domain_with_bad_permission_bits_is_atomic()
    {
        var b = new Booted();
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidOperation, () => b.Engine.TryCreateManagerDomain((DomainPermissions)0x20, out _));
    }

    [Fact]
    public void Create_domain_when_the_domain_pool_is_full_is_atomic()
    {
        var b = new Booted(new EngineCapacities { Domains = 3 });
        Check.Ok(b.Engine.TryCreateDomain(b.D0, out _));
        Check.Ok(b.Engine.TryCreateDomain(b.D0, out _));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCreateDomain(b.D0, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCreateIoDomain(b.D0, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCreateManagerDomain(DomainPermissions.All, out _));
    }

    [Fact]
    public void Create_domain_when_the_manager_table_is_full_does_not_leak_a_domain()
    {
        // Reference bug (notes §7.15): the domain slot is allocated before the capability insert fails, and leaks.
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 4 });
        b.FillTable(b.D0, b.R0);
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCreateDomain(b.D0, out _));
        Assert.Equal(1, b.Engine.DomainCount);
    }

    [Fact]
    public void Create_domain_with_a_full_update_queue_is_atomic()
    {
        var b = new Booted(new EngineCapacities { PendingUpdates = 4 });
        b.Child(out DomainHandle child, traps: 1);
        b.FillQueue(child);
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TryCreateDomain(b.D0, out _));
    }

    [Fact]
    public void Create_domain_without_spawn_is_atomic()
    {
        var b = new Booted();
        b.Child(out DomainHandle child, permissions: DomainPermissions.Send);
        Check.FailsAtomically(b.Engine, CapabilityError.InsufficientPermissions, () => b.Engine.TryCreateDomain(child, out _));
    }

    [Fact]
    public void Configuration_errors_are_atomic()
    {
        var b = new Booted();
        LocalCapability m = b.Child(out DomainHandle child, permissions: DomainPermissions.Send, cores: 1);
        Check.FailsAtomically(b.Engine, CapabilityError.InsufficientPermissions,
            () => b.Engine.TrySetChildConfiguration(child, m, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Spawn));
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidValue, () => b.Engine.TrySetChildConfiguration(b.D0, m, (ConfigurationBitmap)3, 0));
        Check.FailsAtomically(b.Engine, CapabilityError.WrongCapabilityType,
            () => b.Engine.TrySetChildConfiguration(b.D0, b.R0, ConfigurationBitmap.Core, 1));
        Check.FailsAtomically(b.Engine, CapabilityError.CapabilityDoesNotExist,
            () => b.Engine.TrySetChildConfiguration(b.D0, 77, ConfigurationBitmap.Core, 1));
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidOperation,
            () => b.Engine.TrySetDomainConfiguration(child, ConfigurationBitmap.Permission, 0x40));
        Check.Ok(b.Engine.TrySeal(b.D0, 0, m, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.AlreadySealed,
            () => b.Engine.TrySetChildConfiguration(b.D0, m, ConfigurationBitmap.Core, 1));
        Check.FailsAtomically(b.Engine, CapabilityError.AlreadySealed,
            () => b.Engine.TrySetDomainConfiguration(child, ConfigurationBitmap.Trap, 0));
    }

    [Fact]
    public void Seal_errors_are_atomic_including_a_full_manager_table()
    {
        // Reference (notes §3.1 seal): when the Switch insert fails with OutOfMemory the child is already sealed.
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 6 });
        Check.Ok(b.Engine.TryCreateDomain(b.D0, out LocalCapability unconfigured));
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidOperation, () => b.Engine.TrySeal(b.D0, 0, unconfigured, out _));
        LocalCapability m = b.Child(out _);
        b.FillTable(b.D0, b.R0);
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TrySeal(b.D0, 0, m, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.WrongCapabilityType, () => b.Engine.TrySeal(b.D0, 0, b.R0, out _));
    }

    [Fact]
    public void Seal_twice_is_atomic()
    {
        var b = new Booted();
        b.SealedChild(out _, out LocalCapability m);
        Check.FailsAtomically(b.Engine, CapabilityError.AlreadySealed, () => b.Engine.TrySeal(b.D0, 0, m, out _));
    }

    [Fact]
    public void Revoke_domain_errors_are_atomic()
    {
        var b = new Booted();
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevokeDomain(b.D0));
        // A second manager that owns a root region but does not run.
        Check.Ok(b.Engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle other));
        Check.Ok(b.Engine.TryCreateRootRegion(other, new AccessRights(0x10000, 0x20000, MemoryOperations.All), out _));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.OwnsRootRegion, () => b.Engine.TryRevokeDomain(other));
    }

    [Fact]
    public void Revoke_domain_with_a_full_queue_is_atomic()
    {
        var b = new Booted(new EngineCapacities { PendingUpdates = 4 });
        b.Child(out DomainHandle victim);
        b.Child(out DomainHandle trapper, traps: 1);
        b.FillQueue(trapper);
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TryRevokeDomain(victim));
    }

    [Fact]
    public void Revoking_a_running_grandchild_through_its_ancestor_is_refused_atomically()
    {
        var b = new Booted();
        LocalCapability m1 = b.Child(out DomainHandle d1, cores: 1);
        LocalCapability m2 = b.Child(out DomainHandle d2, manager: d1, cores: 1);
        Check.Ok(b.Engine.TrySeal(d1, 0, m2, out LocalCapability toD2));
        // d1 hands the switch to d2 to d0, which runs on core 0, then d0 switches into d2.
        Check.Ok(b.Engine.TryCreateSwitch(b.D0, 0, out _));
        Check.Ok(b.Engine.TrySeal(b.D0, 0, m1, out _));
        Check.Ok(b.Engine.TryCreateDomain(d1, out _)); // something in d1's table besides m2
        b.Drain();
        // d1 sends its switch-to-d2 to d0? It holds no channel to d0; instead d0 switches to d1 and d1 to d2.
        Check.Ok(b.Engine.TrySwitch(b.D0, 0, FindSwitch(b.Engine, b.D0, d1)));
        Check.Ok(b.Engine.TrySwitch(d1, 0, toD2));
        Assert.Equal(CapabilityError.Ok, b.Engine.TryGetRunningDomain(0, out DomainHandle running));
        Assert.Equal(d2, running);
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevoke(b.D0, m1));
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevokeDomain(d1));
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevokeDomain(d2));
    }

    internal static LocalCapability FindSwitch(CapabilityEngine engine, DomainHandle holder, DomainHandle target)
    {
        Check.Ok(engine.TryGetDomainInfo(target, out DomainInfo info));
        for (int i = 0; i < engine.Capacities.CapabilitiesPerDomain; i++)
        {
            if (engine.TryGetCapabilityInfo(holder, i, out CapabilityInfo ci) == CapabilityError.Ok && ci.Kind == CapabilityKind.Switch
                && ci.DomainId == info.Id)
            {
                return i;
            }
        }

        throw new XunitException($"no switch capability to {target} in {holder}");
    }

    // ---------------------------------------------------------------- regions

    [Fact]
    public void Root_region_errors_are_atomic()
    {
        var b = new Booted(new EngineCapacities { Regions = 3, CapabilitiesPerDomain = 8 });
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidOperation,
            () => b.Engine.TryCreateRootRegion(b.D0, new AccessRights(0x2000, 0x1000, MemoryOperations.All), out _));
        Check.Ok(b.Engine.TryCreateRootRegion(b.D0, new AccessRights(0x2000, 0x3000, MemoryOperations.All), out _));
        Check.Ok(b.Engine.TryCreateRootRegion(b.D0, new AccessRights(0x3000, 0x4000, MemoryOperations.All), out _));
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory,
            () => b.Engine.TryCreateRootRegion(b.D0, new AccessRights(0x5000, 0x6000, MemoryOperations.All), out _));
    }

    [Fact]
    public void Root_region_with_a_full_table_is_atomic()
    {
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 5 });
        b.FillTable(b.D0, b.R0);
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory,
            () => b.Engine.TryCreateRootRegion(b.D0, new AccessRights(0x5000, 0x6000, MemoryOperations.All), out _));
    }

    [Fact]
    public void Root_region_with_a_full_queue_is_atomic()
    {
        var b = new Booted(new EngineCapacities { PendingUpdates = 3 });
        b.Child(out DomainHandle child, traps: 1);
        b.FillQueue(child);
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull,
            () => b.Engine.TryCreateRootRegion(child, new AccessRights(0x5000, 0x6000, MemoryOperations.All), out _));
    }

    [Fact]
    public void Alias_and_carve_errors_are_atomic()
    {
        var b = new Booted();
        Check.Ok(b.Engine.TryAlias(b.D0, b.R0, new AccessRights(0x0, 0x100, MemoryOperations.Read), out LocalCapability alias));
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x400, 0x500, MemoryOperations.Read | MemoryOperations.Write), out LocalCapability carve));
        b.Drain();
        var e = b.Engine;
        // outside the parent, start > end, rights escalation, overlaps
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryAlias(b.D0, b.R0, new AccessRights(0x800, 0x1001, MemoryOperations.Read), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryAlias(b.D0, b.R0, new AccessRights(0x200, 0x100, MemoryOperations.Read), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryAlias(b.D0, alias, new AccessRights(0x0, 0x100, MemoryOperations.Read | MemoryOperations.Write), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryCarve(b.D0, carve, new AccessRights(0x400, 0x500, MemoryOperations.Read | MemoryOperations.Execute), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryAlias(b.D0, b.R0, new AccessRights(0x480, 0x580, MemoryOperations.Read), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryCarve(b.D0, b.R0, new AccessRights(0x80, 0x180, MemoryOperations.Read), out _));
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryCarve(b.D0, b.R0, new AccessRights(0x400, 0x500, MemoryOperations.Read), out _));
        // wrong kinds and missing slots
        LocalCapability m = b.Child(out DomainHandle child, permissions: DomainPermissions.Send);
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TryAlias(b.D0, m, Page, out _));
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TryCarve(b.D0, 99, Page, out _));
        // missing permission bits (fix 3: alias needs ALIAS, carve needs CARVE)
        Check.Ok(e.TrySend(b.D0, alias, m, out LocalCapability inChild));
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.InsufficientPermissions, () => e.TryAlias(child, inChild, new AccessRights(0, 0x10, MemoryOperations.Read), out _));
        Check.FailsAtomically(e, CapabilityError.InsufficientPermissions, () => e.TryCarve(child, inChild, new AccessRights(0, 0x10, MemoryOperations.Read), out _));
    }

    [Fact]
    public void Alias_and_carve_with_full_pools_are_atomic()
    {
        var b = new Booted(new EngineCapacities { Regions = 3, CapabilitiesPerDomain = 16 });
        Check.Ok(b.Engine.TryAlias(b.D0, b.R0, Page, out _));
        Check.Ok(b.Engine.TryAlias(b.D0, b.R0, Page, out _));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryAlias(b.D0, b.R0, Page, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.All), out _));

        var t = new Booted(new EngineCapacities { CapabilitiesPerDomain = 4 });
        t.FillTable(t.D0, t.R0);
        Check.FailsAtomically(t.Engine, CapabilityError.OutOfMemory, () => t.Engine.TryAlias(t.D0, t.R0, Page, out _));
        Check.FailsAtomically(t.Engine, CapabilityError.OutOfMemory, () => t.Engine.TryCarve(t.D0, t.R0, Page, out _));
    }

    [Fact]
    public void Alias_and_carve_when_tracker_nodes_run_out_are_atomic()
    {
        // One root node, then each alias in the middle of a node needs two more nodes.
        var b = new Booted(new EngineCapacities { TrackerNodes = 4 });
        Check.Ok(b.Engine.TryAlias(b.D0, b.R0, new AccessRights(0x100, 0x200, MemoryOperations.Read), out _));
        b.Drain();
        Assert.Equal(1, b.Engine.GetFreeCapacity().TrackerNodes);
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory,
            () => b.Engine.TryAlias(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.Read), out _));
        // Carve with different rights: the parent's range is removed (split) and re-added: mid-operation exhaustion.
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory,
            () => b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.Read), out _));
    }

    [Fact]
    public void Alias_with_a_full_queue_is_atomic()
    {
        var b = new Booted(new EngineCapacities { PendingUpdates = 3 });
        b.Child(out DomainHandle trapper, traps: 1);
        b.FillQueue(trapper);
        // Rights drop on a carve crosses a counter 1 -> 0: a PermissionUpdate must be queued, and cannot be.
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull,
            () => b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.Read), out _));
    }

    [Fact]
    public void Revoke_capability_and_duplicate_errors_are_atomic()
    {
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 6 });
        var e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child, permissions: DomainPermissions.Send);
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TryCreateRevokeCapability(b.D0, m, out _));
        Check.FailsAtomically(e, CapabilityError.CannotDuplicate, () => e.TryDuplicate(b.D0, b.R0, out _));
        Check.FailsAtomically(e, CapabilityError.CannotDuplicate, () => e.TryDuplicate(b.D0, m, out _));
        Check.Ok(e.TryCreateRevokeCapability(b.D0, b.R0, out LocalCapability rv));
        b.FillTable(b.D0, b.R0);
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TryCreateRevokeCapability(b.D0, b.R0, out _));
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TryDuplicate(b.D0, rv, out _));
        Check.FailsAtomically(e, CapabilityError.InsufficientPermissions, () => e.TryDuplicate(child, 0, out _));
    }

    // ---------------------------------------------------------------- send, share, grant

    [Fact]
    public void Send_errors_are_atomic()
    {
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 6 });
        var e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child, permissions: DomainPermissions.Carve, cores: 1);
        Check.Ok(e.TryCarve(b.D0, b.R0, Page, out LocalCapability carve));
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TrySend(b.D0, carve, b.R0, out _));
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TrySend(b.D0, 50, m, out _));
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TrySend(b.D0, carve, 50, out _));
        Check.FailsAtomically(e, CapabilityError.InsufficientPermissions, () => e.TrySend(child, 0, 0, out _));
        // Target table full.
        Check.Ok(e.TrySend(b.D0, carve, m, out LocalCapability inChild));
        b.FillTable(child, inChild);
        Check.Ok(e.TryCarve(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.All), out LocalCapability second));
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.OutOfMemory, () => e.TrySend(b.D0, second, m, out _));
    }

    [Fact]
    public void Send_management_with_a_wider_core_map_does_not_lose_the_capability()
    {
        // Reference bug (notes §7.3): the capability is removed before the core-map check fails and is lost.
        var b = new Booted();
        LocalCapability m1 = b.Child(out _, cores: 0b01);
        LocalCapability m2 = b.Child(out _, cores: 0b11);
        Check.FailsAtomically(b.Engine, CapabilityError.InsufficientPermissions, () => b.Engine.TrySend(b.D0, m2, m1, out _));
        Assert.Equal(CapabilityError.Ok, b.Engine.TryGetCapabilityInfo(b.D0, m2, out CapabilityInfo info));
        Assert.Equal(CapabilityKind.Management, info.Kind);
    }

    [Fact]
    public void Send_when_tracker_nodes_run_out_is_atomic()
    {
        // Sending a region moves its effective ranges: the target needs nodes. d1 already has one node.
        // d0: [0x100, 0x1000) (1 node), child: [0, 0x100) (1 node), 1 free. Sending a carve from the middle of d0's
        // node needs a split in d0 (+1) and a new node in the child (+1): exhaustion in the middle of the move.
        var b = new Booted(new EngineCapacities { TrackerNodes = 3 });
        LocalCapability m = b.Child(out _);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x0, 0x100, MemoryOperations.All), out LocalCapability c1));
        Check.Ok(b.Engine.TrySend(b.D0, c1, m, out _));
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.All), out LocalCapability c2));
        b.Drain();
        FreeCapacity free = b.Engine.GetFreeCapacity();
        output.WriteLine($"free tracker nodes before: {free.TrackerNodes}");
        Assert.Equal(1, free.TrackerNodes);
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TrySend(b.D0, c2, m, out _));
    }

    [Fact]
    public void Send_region_with_a_full_queue_is_atomic()
    {
        var b = new Booted(new EngineCapacities { PendingUpdates = 4 });
        LocalCapability m = b.Child(out DomainHandle child, traps: 1);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, Page, out LocalCapability carve));
        b.Drain();
        b.FillQueue(child);
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TrySend(b.D0, carve, m, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TrySendWithHash(b.D0, carve, m, RegionHash.Filled(7), out _));
    }

    [Fact]
    public void Share_and_grant_failing_at_the_send_step_roll_back_the_derived_region()
    {
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 6 });
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0xf00, 0x1000, MemoryOperations.All), out LocalCapability filler));
        Check.Ok(b.Engine.TrySend(b.D0, filler, m, out LocalCapability inChild));
        b.FillTable(child, inChild);
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryShare(b.D0, b.R0, Page, m, out _, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryGrant(b.D0, b.R0, Page, m, out _, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidOperation,
            () => b.Engine.TryGrant(b.D0, b.R0, new AccessRights(0xf00, 0x1000, MemoryOperations.All), m, out _, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.WrongCapabilityType, () => b.Engine.TryShare(b.D0, b.R0, Page, b.R0, out _, out _));
    }

    // ---------------------------------------------------------------- revoke

    [Fact]
    public void Revoke_errors_are_atomic()
    {
        var b = new Booted();
        var e = b.Engine;
        Check.FailsAtomically(e, CapabilityError.InvalidOperation, () => e.TryRevoke(b.D0, b.R0));
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TryRevoke(b.D0, 5));
        Check.FailsAtomically(e, CapabilityError.CapabilityDoesNotExist, () => e.TryRevoke(b.D0, -1));
        Check.Ok(e.TryCarve(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.All | MemoryOperations.Vital), out LocalCapability vital));
        b.Drain();
        // d0 runs on core 0: destroying it is refused as DomainRunning first.
        Check.FailsAtomically(e, CapabilityError.DomainRunning, () => e.TryRevoke(b.D0, vital));
        // A child that does not run and revokes its own VITAL region.
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(e.TrySend(b.D0, vital, m, out LocalCapability inChild));
        Check.Ok(e.TryCarve(child, inChild, new AccessRights(0x200, 0x280, MemoryOperations.Read | MemoryOperations.Vital), out LocalCapability own));
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.RevokesOwnVitalRegion, () => e.TryRevoke(child, own));
        Check.FailsAtomically(e, CapabilityError.RevokesOwnVitalRegion, () => e.TryRevoke(child, inChild));
    }

    [Fact]
    public void Revoke_cascade_failing_on_a_full_queue_is_atomic()
    {
        // A cascade: carve -> three children sent to a child domain, each with CLEANUP: several PermissionUpdates and
        // Cleanups; with room for only a few, the cascade fails midway and must be rolled back completely.
        var b = new Booted(new EngineCapacities { PendingUpdates = 3 });
        LocalCapability m = b.Child(out _);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x0, 0x800, MemoryOperations.All | MemoryOperations.Cleanup), out LocalCapability big));
        b.Drain();
        for (ulong i = 0; i < 3; i++)
        {
            Check.Ok(b.Engine.TryCarve(b.D0, big, new AccessRights(i * 0x100, i * 0x100 + 0x80, MemoryOperations.All | MemoryOperations.Cleanup), out LocalCapability piece));
            Check.Ok(b.Engine.TrySend(b.D0, piece, m, out _));
            b.Drain();
        }

        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TryRevoke(b.D0, big));
        // Even with an empty queue the cascade needs more than three updates: it fails again, atomically.
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.UpdateQueueFull, () => b.Engine.TryRevoke(b.D0, big));
    }

    [Fact]
    public void Revoke_of_a_vital_region_whose_owner_runs_is_refused_atomically()
    {
        var b = new Booted();
        LocalCapability sw = b.SealedChild(out DomainHandle child, out LocalCapability m);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, new AccessRights(0x200, 0x300, MemoryOperations.All | MemoryOperations.Vital), out LocalCapability vital));
        Check.Ok(b.Engine.TryCreateRevokeCapability(b.D0, vital, out LocalCapability rv));
        Check.Ok(b.Engine.TrySend(b.D0, vital, m, out _));
        Check.Ok(b.Engine.TrySwitch(b.D0, 0, sw));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.DomainRunning, () => b.Engine.TryRevoke(b.D0, rv));
    }

    // ---------------------------------------------------------------- switching and traps

    [Fact]
    public void Switch_and_trap_errors_are_atomic()
    {
        var b = new Booted(new EngineCapacities { PendingUpdates = 3, Cores = 4 });
        var e = b.Engine;
        LocalCapability sw = b.SealedChild(out DomainHandle child, out _);
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TrySwitch(b.D0, 1, sw)); // core 1 not in the child's CORE map
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TrySwitch(b.D0, 64, sw));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TrySwitch(b.D0, -1, sw));
        Check.FailsAtomically(e, CapabilityError.WrongCapabilityType, () => e.TrySwitch(b.D0, 0, b.R0));
        Check.FailsAtomically(e, CapabilityError.CouldNotHandleTrap, () => e.TryHandleViolation(b.D0, 0));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryHandleViolation(child, 0)); // no return switch yet
        Check.FailsAtomically(e, CapabilityError.ValidTrapCausedExit, () => e.TryHandleTrap(b.D0, 0, 1, 0));
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(child, 0)); // already started
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(child, 4));
        b.Child(out DomainHandle trapper, traps: 1);
        b.FillQueue(trapper);
        Check.FailsAtomically(e, CapabilityError.UpdateQueueFull, () => e.TrySwitch(b.D0, 0, sw));
        Check.FailsAtomically(e, CapabilityError.UpdateQueueFull, () => e.TryHandleTrap(trapper, 0, 1, 0));
        Check.FailsAtomically(e, CapabilityError.UpdateQueueFull, () => e.TryConditionalPermissionUpdate(child));
    }

    [Fact]
    public void Switch_with_a_full_target_table_is_atomic()
    {
        var b = new Booted(new EngineCapacities { CapabilitiesPerDomain = 4 });
        LocalCapability sw = b.SealedChild(out DomainHandle child, out LocalCapability m);
        Check.Ok(b.Engine.TryCarve(b.D0, b.R0, Page, out LocalCapability c));
        Check.Ok(b.Engine.TrySend(b.D0, c, m, out LocalCapability inChild));
        b.FillTable(child, inChild);
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TrySwitch(b.D0, 0, sw));
    }

    // ---------------------------------------------------------------- devices

    [Fact]
    public void Device_errors_are_atomic()
    {
        var b = new Booted(new EngineCapacities { Devices = 1 });
        var dev = new DeviceId(0, 0, 2, 0);
        Check.Ok(b.Engine.TryCreateRootDevice(b.D0, dev, out _));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.DeviceAlreadyExists, () => b.Engine.TryCreateRootDevice(b.D0, dev, out _));
        Check.FailsAtomically(b.Engine, CapabilityError.OutOfMemory, () => b.Engine.TryCreateRootDevice(b.D0, new DeviceId(0, 0, 3, 0), out _));
    }

    // ---------------------------------------------------------------- transactions

    [Fact]
    public void Rollback_of_an_explicit_transaction_restores_the_exact_state()
    {
        var b = new Booted();
        EngineState before = EngineState.Capture(b.Engine);
        b.Engine.BeginTransaction();
        Assert.True(b.Engine.InTransaction);
        LocalCapability m = b.Child(out _);
        Check.Ok(b.Engine.TryGrant(b.D0, b.R0, Page, m, out _, out _));
        Check.Ok(b.Engine.TryAlias(b.D0, b.R0, new AccessRights(0x800, 0x900, MemoryOperations.Read), out _));
        b.Engine.RollbackTransaction();
        Assert.False(b.Engine.InTransaction);
        Assert.Equal(before, EngineState.Capture(b.Engine));
        Check.NoViolations(b.Engine);
    }

    // ---------------------------------------------------------------- randomized

    /// <summary>Random operations on tiny pools: every failing operation must leave the dump unchanged (checked by the harness).</summary>
    [Fact]
    public void Random_operations_on_tiny_pools_fail_atomically()
    {
        var tiny = new EngineCapacities
        {
            Domains = 4, CapabilitiesPerDomain = 6, Regions = 8, TrackerNodes = 6, PendingUpdates = 5, Cores = 2, Devices = 2,
        };
        int sequences = TestSeeds.Replay is null ? TestSeeds.Sequences(ci: 400, local: 400) : 1;
        ulong baseSeed = TestSeeds.BaseSeed() ^ 0xa70;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{sequences} sequence(s) from seed {baseSeed}"));
        int failures = 0;
        for (int i = 0; i < sequences; i++)
        {
            ulong seed = TestSeeds.Replay ?? baseSeed + (ulong)i;
            var harness = new AtomicityFuzzer(tiny, seed);
            failures += harness.Run(40);
        }

        output.WriteLine($"{failures} failing operations checked");
        Assert.True(failures > sequences, "the random sequences should produce many failing operations");
    }
}
