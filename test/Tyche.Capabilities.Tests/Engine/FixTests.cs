// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>The seven required fixes over the reference (SPEC §1) and the reference leaks (notes §7 items 3, 4, 5, 15, 16).</summary>
public sealed class FixTests
{
    private const string One = "1 (1 - 1 - 1 - 1)";

    // Fix 1: atomicity.

    [Fact]
    public void TrackerPoolRunningDryMidOperationChangesNothing()
    {
        var (e, d0, r0) = Boot(0x10000, new EngineCapacities { TrackerNodes = 3 });
        e.Alias(d0, r0, A(0x1000, 0x2000, MemoryOperations.Read));
        // [0,0x1000) [0x1000,0x2000) [0x2000,0x10000): the pool is full; a carve needing splits must fail cleanly.
        e.AssertFailsUnchanged(CapabilityError.OutOfMemory, () => e.TryCarve(d0, r0, A(0x4000, 0x5000, MemoryOperations.Read), out _));
        e.AssertInvariants();
    }

    [Fact]
    public void FullUpdateQueueFailsWithTypedErrorAndChangesNothing()
    {
        var (e, d0, r0) = Boot(0x10000, new EngineCapacities { PendingUpdates = 2 });
        // CreateDomain + PermissionUpdate fill the queue.
        Assert.Equal(2, e.PendingUpdateCount);
        e.AssertFailsUnchanged(CapabilityError.UpdateQueueFull, () => e.TryCreateDomain(d0, out _));
        // A root region for d0 needs no slot: d0's PermissionUpdate is already pending (de-duplication).
        Assert.Equal(CapabilityError.Ok, e.TryCreateRootRegion(d0, A(0x20000, 0x30000), out _));
        e.Updates();
        LocalCapability c = e.Carve(d0, r0, A(0, 0x100, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup));
        e.Updates();
        Assert.Equal(CapabilityError.Ok, e.TryConditionalPermissionUpdate(d0));
        Assert.Equal(CapabilityError.Ok, e.TryCreateSwitch(d0, 0, out _));
        LocalCapability m = e.CreateDomain(d0);
        // Queue: PermissionUpdate, CreateDomain; revoking the cleanup carve needs one more slot for Cleanup.
        e.AssertFailsUnchanged(CapabilityError.UpdateQueueFull, () => e.TryRevoke(d0, c));
        e.AssertFailsUnchanged(CapabilityError.UpdateQueueFull, () => e.TryRevoke(d0, m));
        e.AssertInvariants();
    }

    [Fact]
    public void FullManagerTableDoesNotLeakTheNewDomain()
    {
        var (e, d0, _) = Boot(0x1000, new EngineCapacities { CapabilitiesPerDomain = 2 });
        e.CreateDomain(d0);
        FreeCapacity before = e.GetFreeCapacity();
        e.AssertFailsUnchanged(CapabilityError.OutOfMemory, () => e.TryCreateDomain(d0, out _));
        Assert.Equal(before, e.GetFreeCapacity());
    }

    [Fact]
    public void BadManagerPermissionsDoNotLeakASlot()
    {
        CapabilityEngine e = new();
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCreateManagerDomain((DomainPermissions)0x20, out _));
        Assert.Equal(32, e.GetFreeCapacity().Domains);
        Assert.Equal("H(0, gen 0)", e.CreateManagerDomain(DomainPermissions.All).ToString());
    }

    // Fix 2: typed errors.

    [Fact]
    public void StaleHandlesAndBadIndicesGiveTypedErrors()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.Revoke(d0, m1);
        Assert.False(e.IsLive(d1));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryCreateDomain(d1, out _));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryAlias(d1, 0, A(0, 1), out _));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryRevokeDomain(d1));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TrySetDomainConfiguration(d1, ConfigurationBitmap.Core, 1));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryGetDomainConfiguration(d1, ConfigurationBitmap.Core, out _));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryStartDomainOnCore(d1, 1));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TrySwitch(d1, 0, 0));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryHandleTrap(d1, 0, 1, 0));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryGetDomainInfo(d1, out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidCapa, () => e.TryCreateRootRegion(d1, A(0, 1), out _));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryRevokeDomain(new DomainHandle(17, 0)));
        e.AssertFailsUnchanged(CapabilityError.StaleDomain, () => e.TryRevokeDomain(DomainHandle.Invalid));
        int token = 0;
        Assert.False(e.TryEnumerate(d1, ref token, out _, out _));

        e.AssertFailsUnchanged(CapabilityError.CapabilityDoesNotExist, () => e.TryRevoke(d0, 1000));
        e.AssertFailsUnchanged(CapabilityError.CapabilityDoesNotExist, () => e.TryRevoke(d0, -1));
        e.AssertFailsUnchanged(CapabilityError.CapabilityDoesNotExist, () => e.TryAlias(d0, 77, A(0, 1), out _));
        // The revoked management capability is a tombstone: using it as a target is a dead target.
        e.AssertFailsUnchanged(CapabilityError.WrongCapabilityType, () => e.TrySend(d0, r0, m1, out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(d0, 64));
        e.AssertFailsUnchanged(CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(d0, -1));
        e.AssertFailsUnchanged(CapabilityError.InvalidCore, () => e.TryStartDomainOnCore(d0, 0));
        e.AssertFailsUnchanged(CapabilityError.InvalidCore, () => e.TryCreateSwitch(d0, 64, out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidValue, () => e.TrySetDomainConfiguration(d0, (ConfigurationBitmap)7, 0));
        e.AssertInvariants();
    }

    [Fact]
    public void DeadManagementTargetIsInvalidCapa()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        e.RevokeDomain(e.GetDomainHandle(d0, m1));
        e.AssertFailsUnchanged(CapabilityError.InvalidCapa, () => e.TrySend(d0, r0, m1, out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidCapa, () => e.TrySetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 1));
    }

    [Fact]
    public void RevokingADomainThatOwnsARootRegionIsRefused()
    {
        var (e, d0, _) = Boot(0x1000);
        e.AssertFailsUnchanged(CapabilityError.DomainRunning, () => e.TryRevokeDomain(d0));
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.CreateRootRegion(d1, A(0x2000, 0x3000));
        e.AssertFailsUnchanged(CapabilityError.OwnsRootRegion, () => e.TryRevoke(d0, m1));
        e.AssertInvariants();
    }

    [Fact]
    public void RevokingOwnVitalRegionIsRefused()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Carve);
        LocalCapability v = e.Carve(d0, r0, A(0x200, 0x300, MemoryOperations.All | MemoryOperations.Vital));
        LocalCapability received = e.Send(d0, v, m1);
        e.AssertFailsUnchanged(CapabilityError.RevokesOwnVitalRegion, () => e.TryRevoke(d1, received));
        // A vital region carved inside the domain's own region, revoked by itself.
        LocalCapability inner = e.Carve(d1, received, A(0x200, 0x210, MemoryOperations.Read | MemoryOperations.Vital));
        e.AssertFailsUnchanged(CapabilityError.RevokesOwnVitalRegion, () => e.TryRevoke(d1, inner));
        e.AssertInvariants();
    }

    // Fix 3: alias needs ALIAS.

    [Fact]
    public void AliasRequiresTheAliasBitNotCarve()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        LocalCapability r = e.Send(d0, e.Carve(d0, r0, A(0, 0x100)), m1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Carve);
        e.AssertFailsUnchanged(CapabilityError.InsufficientPermissions, () => e.TryAlias(d1, r, A(0, 0x10), out _));
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Alias);
        Assert.Equal(CapabilityError.Ok, e.TryAlias(d1, r, A(0, 0x10), out _));
        e.AssertFailsUnchanged(CapabilityError.InsufficientPermissions, () => e.TryCarve(d1, r, A(0x20, 0x30), out _));
    }

    // Fix 4: management cycles.

    [Fact]
    public void SendingManagementNeverCreatesACycle()
    {
        var (e, d0, _) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability m2 = e.CreateDomain(d0);
        e.Send(d0, m1, m2); // d2 now manages d1
        e.AssertFailsUnchanged(CapabilityError.ManagementCycle, () => e.TrySend(d0, m2, m2, out _));
        DomainHandle d2 = e.GetDomainHandle(d0, m2);
        e.SetChildConfiguration(d0, m2, ConfigurationBitmap.Permission, (ulong)(DomainPermissions.Send | DomainPermissions.Spawn));
        // d2 holds Management(d1) at slot 0; d0 sending Management(d2) to d1 would make d2 manage itself.
        Assert.Equal("{Management(2 | _)}", e.Capas(d2));
        LocalCapability m3 = e.CreateDomain(d2);
        e.AssertFailsUnchanged(CapabilityError.ManagementCycle, () => e.TrySend(d2, 0, 0, out _));
        Assert.Equal(CapabilityError.Ok, e.TrySend(d2, 0, m3, out _)); // d3 manages d1: fine
        e.AssertInvariants();
    }

    [Fact]
    public void FailedManagementSendLosesNothing()
    {
        var (e, d0, _) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability m2 = e.CreateDomain(d0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 0b11);
        e.SetChildConfiguration(d0, m2, ConfigurationBitmap.Core, 0b01);
        e.AssertFailsUnchanged(CapabilityError.InsufficientPermissions, () => e.TrySend(d0, m1, m2, out _));
        Assert.Equal("{Region([0x0, 0x1000 | _URWXS]), Management(2 | _), Management(3 | _)}", e.Capas(d0));
    }

    // Fix 5: sealed configuration is frozen.

    [Fact]
    public void SealedDomainsConfigurationCannotChange()
    {
        var (e, d0, _) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, 0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 1);
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TrySeal(d0, 0, m1, out _));
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Trap, 0);
        e.Seal(d0, 0, m1);
        e.AssertFailsUnchanged(CapabilityError.AlreadySealed, () => e.TrySeal(d0, 0, m1, out _));
        e.AssertFailsUnchanged(CapabilityError.AlreadySealed, () => e.TrySetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 1));
        e.AssertFailsUnchanged(CapabilityError.AlreadySealed, () => e.TrySetDomainConfiguration(e.GetDomainHandle(d0, m1), ConfigurationBitmap.Trap, 1));
        e.AssertFailsUnchanged(CapabilityError.AlreadySealed, () => e.TrySetDomainConfiguration(d0, ConfigurationBitmap.Trap, 1));
    }

    // Fix 6: no revocation of running domains.

    [Fact]
    public void RevokingARunningDomainOrItsManagerIsRefused()
    {
        var (e, d0, _) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Spawn);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 0b11);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Trap, 0);
        LocalCapability m2 = e.CreateDomain(d1);
        DomainHandle d2 = e.GetDomainHandle(d1, m2);
        e.StartDomainOnCore(d2, 1);
        e.AssertFailsUnchanged(CapabilityError.DomainRunning, () => e.TryRevoke(d0, m1));
        e.AssertFailsUnchanged(CapabilityError.DomainRunning, () => e.TryRevokeDomain(d2));
        LocalCapability s = e.Seal(d0, 0, m1);
        e.Switch(d0, 0, s);
        Assert.Equal(CapabilityError.Ok, e.TryGetRunningDomain(0, out DomainHandle running));
        Assert.Equal(d1, running);
        e.AssertFailsUnchanged(CapabilityError.DomainRunning, () => e.TryRevokeDomain(d1));
        e.AssertInvariants();
    }

    // Fix 7: VITAL survives enumeration; exact lengths.

    [Fact]
    public void EnumerationKeepsVital()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability v = e.Carve(d0, r0, A(0x100, 0x200, MemoryOperations.Read | MemoryOperations.Cleanup | MemoryOperations.Vital));
        Assert.Equal(CapabilityError.Ok, e.TryGetCapabilityInfo(d0, v, out CapabilityInfo info));
        Assert.Equal(MemoryOperations.Read | MemoryOperations.Cleanup | MemoryOperations.Vital, info.Operations);
        info.Serialize(out _, out _, out ulong v3);
        Assert.Equal((ulong)(MemoryOperations.Read | MemoryOperations.Cleanup | MemoryOperations.Vital), ((v3 >> 8) >> 2) & 0x7F);
        Assert.Equal(CapabilityError.Ok, e.TryGetRegionInfo(d0, v, out AccessRights access, out CleanupPolicy policy, out _, out _));
        Assert.Equal(MemoryOperations.Vital, access.Operations & MemoryOperations.Vital);
        Assert.Equal(CleanupPolicy.Zero, policy);
        byte[] buffer = new byte[e.GetAttestationLength()];
        Assert.Equal(CapabilityError.Ok, e.TrySerializeAttestation(buffer, out int written));
        Assert.Equal(buffer.Length, written);
        // Second region record: kind 0x82, parent u32, then the ops byte with VITAL.
        Assert.Equal((byte)(MemoryOperations.Read | MemoryOperations.Cleanup | MemoryOperations.Vital), buffer[5 + 19 + 1 + 4]);
    }

    // Reference leaks.

    [Fact]
    public void RevokingADomainWithASelfCarveAtARegionStartWorks()
    {
        var (e, d0, r0) = Boot(0x10000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Carve);
        LocalCapability p = e.Send(d0, e.Carve(d0, r0, A(0x1000, 0x2000)), m1);
        e.Carve(d1, p, A(0x1000, 0x1100, MemoryOperations.Read));
        e.AssertInvariants();
        e.Updates();
        e.RevokeDomain(d1);
        Assert.False(e.IsLive(d1));
        Assert.Equal($"{{[0x0, 0x10000 | {One}]}}", e.Regions(d0));
        Assert.Equal("{RevokeDomain(H(1, gen 0)), PermissionUpdate(H(0, gen 0))}", e.Updates());
        Assert.Equal(new FreeCapacity(31, 1023, 1023, 128, 256), e.GetFreeCapacity());
        e.AssertInvariants();
    }
}

/// <summary>Revocation cascades re-entered through VITAL regions (the reference panics or loops here).</summary>
public sealed class VitalReentryTests
{
    [Fact]
    public void VitalDescendantKillingTheOwnerOfAnAncestorDefersThatAncestor()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)(DomainPermissions.Carve | DomainPermissions.Spawn | DomainPermissions.Send));
        var (_, p) = e.Grant(d0, r0, A(0x200, 0x300), m1);
        LocalCapability c = e.Carve(d1, p, A(0x200, 0x280));
        e.Carve(d1, c, A(0x200, 0x240, MemoryOperations.Read | MemoryOperations.Vital));
        LocalCapability m2 = e.CreateDomain(d1);
        DomainHandle d2 = e.GetDomainHandle(d1, m2);
        e.Send(d1, c, m2);
        e.AssertInvariants();
        e.Updates();
        Assert.Equal(CapabilityError.Ok, e.TryRevokeDomain(d2));
        Assert.False(e.IsLive(d1));
        Assert.False(e.IsLive(d2));
        Assert.Equal("{[0x0, 0x1000 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));
        Assert.Equal(new FreeCapacity(31, 1023, 1023, 124, 256), e.GetFreeCapacity());
        e.AssertInvariants();
    }

    [Fact]
    public void ManagerRevokingAGrantWithAVitalDescendantOfTheSameChild()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Carve);
        var (rv, p) = e.Grant(d0, r0, A(0x200, 0x300), m1);
        e.Carve(d1, p, A(0x280, 0x300, MemoryOperations.Read | MemoryOperations.Vital));
        e.AssertFailsUnchanged(CapabilityError.RevokesOwnVitalRegion, () => e.TryRevoke(d1, p));
        e.Revoke(d0, rv);
        Assert.False(e.IsLive(d1));
        Assert.Equal("{[0x0, 0x1000 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));
        e.AssertInvariants();
    }
}
