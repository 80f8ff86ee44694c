// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>The reference integration tests (notes §6.1 items 6–36) against the API, as a quick engine-level check.</summary>
public sealed class UpstreamScenarioTests
{
    private const string One = "1 (1 - 1 - 1 - 1)";

    private static string Effective(CapabilityEngine e, DomainHandle d, LocalCapability r)
    {
        AccessRights[] buf = new AccessRights[16];
        Assert.Equal(CapabilityError.Ok, e.TryGetEffectiveRegions(d, r, buf, out int n));
        return string.Join(", ", buf[..n]);
    }

    [Fact]
    public void EffectiveRegionIterator()
    {
        var (e, d0, r0) = Boot(0x1000);
        Assert.Equal("[0x0, 0x1000 | RWXS]", Effective(e, d0, r0));

        (e, d0, r0) = Boot(0x1000);
        e.Carve(d0, r0, A(0, 0x500));
        Assert.Equal("{Region([0x0, 0x1000 | PURWXS]), Region([0x0, 0x500 | _URWXS])}", e.Capas(d0));
        Assert.Equal("[0x500, 0x1000 | RWXS]", Effective(e, d0, r0));

        (e, d0, r0) = Boot(0x1000);
        e.Carve(d0, r0, A(0x200, 0x300));
        Assert.Equal("[0x0, 0x200 | RWXS], [0x300, 0x1000 | RWXS]", Effective(e, d0, r0));

        (e, d0, r0) = Boot(0x1000);
        e.Carve(d0, r0, A(0x500, 0x1000));
        Assert.Equal("[0x0, 0x500 | RWXS]", Effective(e, d0, r0));

        (e, d0, r0) = Boot(0x1000);
        e.Carve(d0, r0, A(0, 0x100));
        e.Carve(d0, r0, A(0x200, 0x300));
        e.Carve(d0, r0, A(0x400, 0x500));
        e.Carve(d0, r0, A(0x900, 0x1000));
        Assert.Equal("[0x100, 0x200 | RWXS], [0x300, 0x400 | RWXS], [0x500, 0x900 | RWXS]", Effective(e, d0, r0));
    }

    [Fact]
    public void SendMovesOnlyEffectiveRanges()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, r0, m1);
        Assert.Equal("{}", e.Regions(d0));
        Assert.Equal($"{{[0x0, 0x1000 | {One}]}}", e.Regions(d1));

        (e, d0, r0) = Boot(0x1000);
        e.Carve(d0, r0, A(0, 0x500));
        m1 = e.CreateDomain(d0);
        d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, r0, m1);
        Assert.Equal($"{{[0x500, 0x1000 | {One}]}}", e.Regions(d1));
        Assert.Equal($"{{[0x0, 0x500 | {One}]}}", e.Regions(d0));
        e.AssertInvariants();
    }

    [Fact]
    public void UpdatesOrder()
    {
        var (e, _, _) = Boot(0x1000);
        Assert.True(e.TryPopUpdate(out Update u));
        Assert.Equal("CreateDomain(H(0, gen 0))", u.ToUpstreamString());
        Assert.True(e.TryPopUpdate(out u));
        Assert.Equal("PermissionUpdate(H(0, gen 0))", u.ToUpstreamString());
        Assert.False(e.TryPopUpdate(out _));
    }

    [Fact]
    public void SimpleCarveAndLosePermissions()
    {
        CapabilityEngine e = new();
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        e.StartDomainOnCore(d0, 0);
        Assert.Equal("{CreateDomain(H(0, gen 0))}", e.Updates());
        LocalCapability r0 = e.CreateRootRegion(d0, A(0, 0x1000));
        Assert.Equal("{PermissionUpdate(H(0, gen 0))}", e.Updates());
        LocalCapability r1 = e.Carve(d0, r0, A(0, 0x500));
        Assert.Equal($"{{[0x0, 0x1000 | {One}]}}", e.Regions(d0));
        Assert.Equal("{}", e.Updates());
        e.Revoke(d0, r1);
        Assert.Equal("{Region([0x0, 0x1000 | _URWXS])}", e.Capas(d0));

        r1 = e.Carve(d0, r0, A(0, 0x500, MemoryOperations.Read));
        Assert.Equal($"{{[0x0, 0x500 | 1 (1 - 0 - 0 - 0)] -> [0x500, 0x1000 | {One}]}}", e.Regions(d0));
        Assert.Equal("{Region([0x0, 0x1000 | PURWXS]), Region([0x0, 0x500 | _UR___])}", e.Capas(d0));
        Assert.Equal("{PermissionUpdate(H(0, gen 0))}", e.Updates());
        e.Revoke(d0, r1);
        Assert.Equal($"{{[0x0, 0x1000 | {One}]}}", e.Regions(d0));
        e.AssertInvariants();
    }

    [Fact]
    public void CarveRules()
    {
        var (e, d0, r0) = Boot(0x1000);
        e.Carve(d0, r0, A(0, 0x500));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r0, A(0, 0x500), out _));

        (e, d0, r0) = Boot(5);
        for (ulong i = 0; i < 5; i++)
        {
            e.Carve(d0, r0, A(i, i + 1));
        }

        Assert.Equal($"{{[0x0, 0x5 | {One}]}}", e.Regions(d0));
        Assert.Equal("{Region([0x0, 0x5 | PURWXS]), Region([0x0, 0x1 | _URWXS]), Region([0x1, 0x2 | _URWXS]), Region([0x2, 0x3 | _URWXS]), Region([0x3, 0x4 | _URWXS]), Region([0x4, 0x5 | _URWXS])}", e.Capas(d0));

        (e, d0, r0) = Boot(5);
        LocalCapability carver = r0;
        for (ulong i = 0; i < 4; i++)
        {
            carver = e.Carve(d0, carver, A(0, 4 - i));
        }

        Assert.Equal("{Region([0x0, 0x5 | PURWXS]), Region([0x0, 0x4 | PURWXS]), Region([0x0, 0x3 | PURWXS]), Region([0x0, 0x2 | PURWXS]), Region([0x0, 0x1 | _URWXS])}", e.Capas(d0));

        (e, d0, r0) = Boot(5);
        LocalCapability r1 = e.Carve(d0, r0, A(0, 1, MemoryOperations.Read | MemoryOperations.Write));
        Assert.Equal($"{{[0x0, 0x1 | 1 (1 - 1 - 0 - 0)] -> [0x1, 0x5 | {One}]}}", e.Regions(d0));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r1, A(0, 2, MemoryOperations.Read | MemoryOperations.Write), out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r1, A(0, 1), out _));
        e.AssertInvariants();
    }

    [Fact]
    public void CarveSendAndRevokeDomain()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        LocalCapability r1 = e.Carve(d0, r0, A(0, 0x500));
        e.Send(d0, r1, m1);
        Assert.Equal($"{{[0x500, 0x1000 | {One}]}}", e.Regions(d0));
        Assert.Equal("{Region([0x0, 0x1000 | PURWXS]), Management(2 | _)}", e.Capas(d0));
        Assert.Equal("{Region([0x0, 0x500 | _URWXS])}", e.Capas(d1));
        e.RevokeDomain(d1);
        Assert.Equal("{Region([0x0, 0x1000 | _URWXS])}", e.Capas(d0));
        Assert.Equal($"{{[0x0, 0x1000 | {One}]}}", e.Regions(d0));
        e.AssertInvariants();
    }

    [Fact]
    public void AliasRules()
    {
        var (e, d0, r0) = Boot(0x1000);
        e.Updates();
        LocalCapability r1 = e.Alias(d0, r0, A(0, 0x500));
        Assert.Equal($"{{[0x0, 0x500 | 2 (2 - 2 - 2 - 2)] -> [0x500, 0x1000 | {One}]}}", e.Regions(d0));
        Assert.Equal("{Region([0x0, 0x1000 | PURWXS]), Region([0x0, 0x500 | __RWXS])}", e.Capas(d0));
        Assert.Equal("{}", e.Updates());
        e.Revoke(d0, r1);
        Assert.Equal($"{{[0x0, 0x1000 | {One}]}}", e.Regions(d0));

        e.Alias(d0, r0, A(0, 0x500));
        e.Alias(d0, r0, A(0, 0x500));
        Assert.Equal($"{{[0x0, 0x500 | 3 (3 - 3 - 3 - 3)] -> [0x500, 0x1000 | {One}]}}", e.Regions(d0));

        (e, d0, r0) = Boot(5);
        for (ulong i = 0; i < 5; i++)
        {
            e.Alias(d0, r0, A(i, i + 1));
        }

        Assert.Equal("{[0x0, 0x5 | 2 (2 - 2 - 2 - 2)]}", e.Regions(d0));

        (e, d0, r0) = Boot(5);
        LocalCapability carver = r0;
        for (ulong i = 0; i < 4; i++)
        {
            carver = e.Alias(d0, carver, A(0, 4 - i));
        }

        Assert.Equal("{[0x0, 0x1 | 5 (5 - 5 - 5 - 5)] -> [0x1, 0x2 | 4 (4 - 4 - 4 - 4)] -> [0x2, 0x3 | 3 (3 - 3 - 3 - 3)] -> [0x3, 0x4 | 2 (2 - 2 - 2 - 2)] -> [0x4, 0x5 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));
        Assert.Equal("{Region([0x0, 0x5 | PURWXS]), Region([0x0, 0x4 | P_RWXS]), Region([0x0, 0x3 | P_RWXS]), Region([0x0, 0x2 | P_RWXS]), Region([0x0, 0x1 | __RWXS])}", e.Capas(d0));

        (e, d0, r0) = Boot(5);
        r1 = e.Alias(d0, r0, A(0, 1, MemoryOperations.Read | MemoryOperations.Write));
        Assert.Equal($"{{[0x0, 0x1 | 2 (2 - 2 - 1 - 1)] -> [0x1, 0x5 | {One}]}}", e.Regions(d0));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryAlias(d0, r1, A(0, 2, MemoryOperations.Read | MemoryOperations.Write), out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryAlias(d0, r1, A(0, 1), out _));
        e.AssertInvariants();
    }

    [Fact]
    public void AliasSend()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        LocalCapability r1 = e.Alias(d0, r0, A(0, 0x500));
        e.Send(d0, r1, m1);
        Assert.Equal($"{{[0x0, 0x1000 | {One}]}}", e.Regions(d0));
        Assert.Equal($"{{[0x0, 0x500 | {One}]}}", e.Regions(d1));
        e.RevokeDomain(d1);
        Assert.Equal("{Region([0x0, 0x1000 | _URWXS])}", e.Capas(d0));
        e.AssertInvariants();
    }

    [Fact]
    public void CounterAliasCarveBugAndAliasThenCarve()
    {
        var (e, d0, r0) = Boot(10);
        LocalCapability r1 = e.Alias(d0, r0, A(0, 5));
        LocalCapability r2 = e.Carve(d0, r1, A(0, 5));
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, r1, m1);
        Assert.Equal("{}", e.Regions(d1));
        e.Send(d0, r2, m1);
        Assert.Equal("{Region([0x0, 0x5 | P_RWXS]), Region([0x0, 0x5 | __RWXS])}", e.Capas(d1));
        Assert.Equal($"{{[0x0, 0x5 | {One}]}}", e.Regions(d1));
        e.Revoke(d1, 0);
        Assert.Equal("{}", e.Capas(d1));
        Assert.Equal("{}", e.Regions(d1));
        e.AssertInvariants();

        (e, d0, r0) = Boot(10);
        r1 = e.Alias(d0, r0, A(0, 5, MemoryOperations.Read));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r0, A(0, 5, MemoryOperations.Read), out _));
        Assert.Equal("{[0x0, 0x5 | 2 (2 - 1 - 1 - 1)] -> [0x5, 0xa | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r0, A(4, 6, MemoryOperations.Read), out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r1, A(4, 6, MemoryOperations.Read), out _));
        r2 = e.Carve(d0, r1, A(0, 5, MemoryOperations.Read));
        Assert.Equal("{Region([0x0, 0xa | PURWXS]), Region([0x0, 0x5 | P_R___]), Region([0x0, 0x5 | __R___])}", e.Capas(d0));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r1, A(1, 2, MemoryOperations.Read), out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryAlias(d0, r1, A(1, 2, MemoryOperations.Read), out _));
        m1 = e.CreateDomain(d0);
        d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, r2, m1);
        Assert.Equal("{Region([0x0, 0xa | PURWXS]), Region([0x0, 0x5 | P_R___]), Management(2 | _)}", e.Capas(d0));
        Assert.Equal($"{{[0x0, 0xa | {One}]}}", e.Regions(d0));
        Assert.Equal("{[0x0, 0x5 | 1 (1 - 0 - 0 - 0)]}", e.Regions(d1));
        e.Send(d0, r1, m1);
        Assert.Equal("{Region([0x0, 0xa | PURWXS]), Management(2 | _)}", e.Capas(d0));
        Assert.Equal("{Region([0x0, 0x5 | __R___]), Region([0x0, 0x5 | P_R___])}", e.Capas(d1));
        Assert.Equal("{[0x0, 0x5 | 1 (1 - 0 - 0 - 0)]}", e.Regions(d1));
        e.AssertInvariants();
    }

    [Fact]
    public void CleanupVitalAndFreeResources()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability r1 = e.Carve(d0, r0, A(0x200, 0x300, MemoryOperations.All | MemoryOperations.Cleanup));
        Assert.Equal("{Region([0x0, 0x1000 | PURWXS]), Region([0x200, 0x300 | _URWXS])}", e.Capas(d0));
        e.Updates();
        e.Revoke(d0, r1);
        Assert.Equal("{PermissionUpdate(H(0, gen 0)), Cleanup([0x200, 0x300])}", e.Updates());

        (e, d0, r0) = Boot(0x1000);
        r1 = e.Carve(d0, r0, A(0x200, 0x300, MemoryOperations.All | MemoryOperations.Vital));
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability rv = e.CreateRevokeCapability(d0, r1);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, r1, m1);
        Assert.Equal("{Region([0x200, 0x300 | _URWXS])}", e.Capas(d1));
        Assert.Equal("{Region([0x0, 0x1000 | PURWXS]), Management(2 | _), RegionRevoke([0x200, 0x300 | CRWXS])}", e.Capas(d0));
        e.Revoke(d0, rv);
        Assert.Equal(CapabilityError.Ok, e.TryGetDomainHandle(d0, m1, out DomainHandle stale));
        Assert.False(e.IsLive(stale));
        Assert.Equal("{}", e.Capas(stale));
        Assert.Equal("{Region([0x0, 0x1000 | _URWXS])}", e.Capas(d0));
        e.AssertInvariants();

        (e, d0, r0) = Boot(0x1000);
        e.Updates();
        FreeCapacity before = e.GetFreeCapacity();
        for (int i = 0; i < 200; i++)
        {
            LocalCapability m = e.CreateDomain(d0);
            for (int j = 0; j < 30; j++)
            {
                LocalCapability a = e.Alias(d0, r0, A(0x200, 0x300, MemoryOperations.All | MemoryOperations.Cleanup));
                e.Send(d0, a, m);
            }

            e.Revoke(d0, m);
            e.Updates();
            Assert.Equal(before, e.GetFreeCapacity());
        }

        e.AssertInvariants();
    }

    private static (CapabilityEngine E, DomainHandle D0, DomainHandle D1, LocalCapability M1, LocalCapability Rv) Enclave(DomainPermissions childPerms)
    {
        var (e, d0, r0) = Boot(10);
        LocalCapability en = e.Carve(d0, r0, A(0, 5));
        LocalCapability m1 = e.CreateDomain(d0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)childPerms);
        LocalCapability rv = e.CreateRevokeCapability(d0, en);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, en, m1);
        return (e, d0, d1, m1, rv);
    }

    [Fact]
    public void AdversarialEnclaves()
    {
        var (e, d0, d1, _, rv) = Enclave(DomainPermissions.Alias | DomainPermissions.Carve);
        e.Alias(d1, 0, A(1, 2));
        Assert.Equal("{Region([0x0, 0x5 | PURWXS]), Region([0x1, 0x2 | __RWXS])}", e.Capas(d1));
        Assert.Equal($"{{[0x0, 0x1 | {One}] -> [0x1, 0x2 | 2 (2 - 2 - 2 - 2)] -> [0x2, 0x5 | {One}]}}", e.Regions(d1));
        Assert.Equal("{Region([0x0, 0xa | PURWXS]), Management(2 | _), RegionRevoke([0x0, 0x5 | CRWXS])}", e.Capas(d0));
        Assert.Equal($"{{[0x5, 0xa | {One}]}}", e.Regions(d0));
        e.Revoke(d0, rv);
        Assert.Equal("{}", e.Capas(d1));
        Assert.Equal("{}", e.Regions(d1));
        Assert.Equal("{Region([0x0, 0xa | _URWXS]), Management(2 | _)}", e.Capas(d0));
        Assert.Equal($"{{[0x0, 0xa | {One}]}}", e.Regions(d0));
        e.AssertInvariants();

        (e, d0, d1, _, rv) = Enclave(DomainPermissions.Alias | DomainPermissions.Carve);
        e.Carve(d1, 0, A(1, 2, MemoryOperations.Read));
        Assert.Equal($"{{[0x0, 0x1 | {One}] -> [0x1, 0x2 | 1 (1 - 0 - 0 - 0)] -> [0x2, 0x5 | {One}]}}", e.Regions(d1));
        e.Revoke(d0, rv);
        Assert.Equal($"{{[0x0, 0xa | {One}]}}", e.Regions(d0));
        e.AssertInvariants();

        (e, d0, d1, _, rv) = Enclave(DomainPermissions.Alias | DomainPermissions.Carve | DomainPermissions.Send | DomainPermissions.Spawn);
        LocalCapability eer = e.Carve(d1, 0, A(1, 2, MemoryOperations.Read));
        LocalCapability m2 = e.CreateDomain(d1);
        DomainHandle d2 = e.GetDomainHandle(d1, m2);
        e.Send(d1, eer, m2);
        Assert.Equal("{Region([0x0, 0x5 | PURWXS]), Management(3 | _)}", e.Capas(d1));
        Assert.Equal($"{{[0x0, 0x1 | {One}] -> [0x2, 0x5 | {One}]}}", e.Regions(d1));
        Assert.Equal("{Region([0x1, 0x2 | _UR___])}", e.Capas(d2));
        e.Revoke(d0, rv);
        Assert.Equal("{Management(3 | _)}", e.Capas(d1));
        Assert.Equal("{}", e.Regions(d1));
        Assert.Equal("{}", e.Capas(d2));
        Assert.Equal("{}", e.Regions(d2));
        Assert.Equal($"{{[0x0, 0xa | {One}]}}", e.Regions(d0));
        e.AssertInvariants();
    }

    [Fact]
    public void DomainCapabilities()
    {
        var (e, d0, r0) = Boot(0x100);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.Send(d0, r0, m1);
        e.AssertFailsUnchanged(CapabilityError.InsufficientPermissions, () => e.TryCreateDomain(d1, out _));
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Spawn);
        LocalCapability m2 = e.CreateDomain(d1);
        DomainHandle d2 = e.GetDomainHandle(d1, m2);
        e.AssertFailsUnchanged(CapabilityError.InsufficientPermissions, () => e.TrySend(d1, 0, m2, out _));
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Send);
        e.Send(d1, 0, m2);
        Assert.Equal("{}", e.Regions(d0));
        Assert.Equal("{}", e.Regions(d1));
        Assert.Equal($"{{[0x0, 0x100 | {One}]}}", e.Regions(d2));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryRevoke(d2, 0));
        e.AssertInvariants();
    }

    [Fact]
    public void NewCapa()
    {
        CapabilityEngine e = new();
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        e.StartDomainOnCore(d0, 0);
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability m2 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        DomainHandle d2 = e.GetDomainHandle(d0, m2);
        LocalCapability r0 = e.CreateRootRegion(d0, A(0, 0x100));
        Assert.Equal(2, r0.Index);
        LocalCapability r1 = e.Alias(d0, r0, A(0x10, 0x20));
        LocalCapability r2 = e.Carve(d0, r0, A(0x30, 0x50));
        LocalCapability r3 = e.Alias(d0, r2, A(0x40, 0x50));
        LocalCapability r4 = e.Carve(d0, r0, A(0x60, 0x80));
        Assert.Equal("{Management(2 | _), Management(3 | _), Region([0x0, 0x100 | PURWXS]), Region([0x10, 0x20 | __RWXS]), Region([0x30, 0x50 | PURWXS]), Region([0x40, 0x50 | __RWXS]), Region([0x60, 0x80 | _URWXS])}", e.Capas(d0));
        Assert.Equal($"{{[0x0, 0x10 | {One}] -> [0x10, 0x20 | 2 (2 - 2 - 2 - 2)] -> [0x20, 0x40 | {One}] -> [0x40, 0x50 | 2 (2 - 2 - 2 - 2)] -> [0x50, 0x100 | {One}]}}", e.Regions(d0));
        LocalCapability rv1 = e.CreateRevokeCapability(d0, r1);
        e.Send(d0, r1, m1);
        Assert.Equal($"{{[0x0, 0x40 | {One}] -> [0x40, 0x50 | 2 (2 - 2 - 2 - 2)] -> [0x50, 0x100 | {One}]}}", e.Regions(d0));
        e.Send(d0, r2, m1);
        Assert.Equal("{Management(2 | _), Management(3 | _), Region([0x0, 0x100 | PURWXS]), Region([0x40, 0x50 | __RWXS]), Region([0x60, 0x80 | _URWXS]), RegionRevoke([0x10, 0x20 | _RWXS])}", e.Capas(d0));
        Assert.Equal($"{{[0x0, 0x30 | {One}] -> [0x40, 0x100 | {One}]}}", e.Regions(d0));
        Assert.Equal($"{{[0x10, 0x20 | {One}] -> [0x30, 0x50 | {One}]}}", e.Regions(d1));
        e.Send(d0, r3, m2);
        e.Send(d0, r4, m2);
        Assert.Equal($"{{[0x0, 0x30 | {One}] -> [0x50, 0x60 | {One}] -> [0x80, 0x100 | {One}]}}", e.Regions(d0));
        Assert.Equal($"{{[0x40, 0x50 | {One}] -> [0x60, 0x80 | {One}]}}", e.Regions(d2));
        e.Revoke(d0, rv1);
        Assert.Equal("{Management(2 | _), Management(3 | _), Region([0x0, 0x100 | PURWXS])}", e.Capas(d0));
        Assert.Equal("{Region([0x30, 0x50 | PURWXS])}", e.Capas(d1));
        e.Revoke(d1, 1);
        Assert.Equal("{}", e.Capas(d1));
        Assert.Equal("{Region([0x60, 0x80 | _URWXS])}", e.Capas(d2));
        Assert.Equal($"{{[0x0, 0x60 | {One}] -> [0x80, 0x100 | {One}]}}", e.Regions(d0));
        e.Revoke(d2, 1);
        Assert.Equal("{}", e.Capas(d2));
        Assert.Equal($"{{[0x0, 0x100 | {One}]}}", e.Regions(d0));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryRevoke(d0, 2));
        e.AssertInvariants();
    }
}
