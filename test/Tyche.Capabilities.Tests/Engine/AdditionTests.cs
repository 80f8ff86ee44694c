// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>Additions over the reference: devices, cores, share/grant, cleanup policies, memory map, invariant checker, transactions.</summary>
[Collection(AllocationMeasurementCollection.Name)]
public sealed class AdditionTests
{
    private static readonly DeviceId Gpu = new(0, 0, 2, 0);
    private static readonly DeviceId Nic = new(0, 3, 0, 1);

    private static (CapabilityEngine E, DomainHandle D0, LocalCapability R0, LocalCapability M1, DomainHandle D1) Child(ulong size = 0x10000)
    {
        var (e, d0, r0) = Boot(size);
        LocalCapability m1 = e.CreateDomain(d0);
        return (e, d0, r0, m1, e.GetDomainHandle(d0, m1));
    }

    [Fact]
    public void DevicesMoveWithSendAndComeBackOnRevoke()
    {
        var (e, d0, _, m1, d1) = Child();
        e.Updates();
        LocalCapability gpu = e.CreateRootDevice(d0, Gpu);
        Assert.Equal("{DeviceUpdate(00:02.0, H(0, gen 0))}", e.DetailedUpdates().Replace("0000:", string.Empty, StringComparison.Ordinal));
        e.AssertFailsUnchanged(CapabilityError.DeviceAlreadyExists, () => e.TryCreateRootDevice(d1, Gpu, out _));
        e.AssertFailsUnchanged(CapabilityError.CannotDuplicate, () => e.TryDuplicate(d0, gpu, out _));
        e.AssertFailsUnchanged(CapabilityError.WrongCapabilityType, () => e.TryAlias(d0, gpu, A(0, 1), out _));
        LocalCapability revoke = e.CreateRevokeCapability(d0, gpu);
        LocalCapability inChild = e.Send(d0, gpu, m1);
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(Gpu, out DomainHandle owner));
        Assert.Equal(d1, owner);
        Assert.True(e.TryPopUpdate(out Update u));
        Assert.Equal(new Update(UpdateKind.DeviceUpdate, d1, device: Gpu), u);
        DeviceId[] devices = new DeviceId[4];
        Assert.Equal(1, e.GetDevices(d1, devices));
        Assert.Equal(Gpu, devices[0]);
        Assert.Equal(0, e.GetDevices(d0, devices));
        Assert.Equal(CapabilityError.Ok, e.TryGetCapabilityInfo(d1, inChild, out CapabilityInfo info));
        Assert.Equal(CapabilityKind.Device, info.Kind);
        e.AssertInvariants();

        e.Revoke(d0, revoke);
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(Gpu, out owner));
        Assert.Equal(d0, owner);
        Assert.True(e.TryPopUpdate(out u));
        Assert.Equal(new Update(UpdateKind.DeviceUpdate, d0, device: Gpu), u);
        Assert.Equal("{}", e.Capas(d1));
        Assert.Equal(CapabilityKind.Device, FindKind(e, d0, CapabilityKind.Device));
        e.AssertInvariants();
    }

    private static CapabilityKind FindKind(CapabilityEngine e, DomainHandle d, CapabilityKind kind)
    {
        int token = 0;
        while (e.TryEnumerate(d, ref token, out _, out CapabilityInfo info))
        {
            if (info.Kind == kind)
            {
                return kind;
            }
        }

        return CapabilityKind.None;
    }

    [Fact]
    public void DevicesReturnWhenTheirHolderIsRevokedAndRootDevicesPinTheirOwner()
    {
        var (e, d0, _, m1, d1) = Child();
        LocalCapability nic = e.CreateRootDevice(d0, Nic);
        e.Send(d0, nic, m1); // no revoke capability: the device goes back to the previous holder
        e.Updates();
        e.RevokeDomain(d1);
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(Nic, out DomainHandle owner));
        Assert.Equal(d0, owner);
        Assert.Equal("{RevokeDomain(H(1, gen 0)), DeviceUpdate(0000:03:00.1, H(0, gen 0))}", e.DetailedUpdates());
        e.AssertInvariants();

        LocalCapability m2 = e.CreateDomain(d0);
        DomainHandle d2 = e.GetDomainHandle(d0, m2);
        e.CreateRootDevice(d2, Gpu);
        e.AssertFailsUnchanged(CapabilityError.OwnsRootRegion, () => e.TryRevokeDomain(d2));
    }

    [Fact]
    public void DeviceRevokeChainsInvalidateLaterGrants()
    {
        var (e, d0, _, m1, d1) = Child();
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)(DomainPermissions.Send | DomainPermissions.Spawn));
        LocalCapability gpu = e.CreateRootDevice(d0, Gpu);
        LocalCapability rv0 = e.CreateRevokeCapability(d0, gpu);
        LocalCapability g1 = e.Send(d0, gpu, m1);
        LocalCapability m2 = e.CreateDomain(d1);
        DomainHandle d2 = e.GetDomainHandle(d1, m2);
        LocalCapability rv1 = e.CreateRevokeCapability(d1, g1);
        e.Send(d1, g1, m2);
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(Gpu, out DomainHandle owner));
        Assert.Equal(d2, owner);
        e.Revoke(d0, rv0); // back to d0; d1's revoke capability is now void
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(Gpu, out owner));
        Assert.Equal(d0, owner);
        Assert.Equal(CapabilityError.InvalidCapa, e.TryGetCapabilityInfo(d1, rv1, out _));
        e.Revoke(d1, rv1); // a tombstone: nothing moves
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(Gpu, out owner));
        Assert.Equal(d0, owner);
        e.AssertInvariants();
    }

    [Fact]
    public void CoresAreReportedPerDomain()
    {
        var (e, d0, _, m1, d1) = Child();
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 0b100);
        DomainHandle[] buf = new DomainHandle[4];
        Assert.Equal(2, e.GetDomainsAllowedOnCore(2, buf));
        Assert.Equal(d0, buf[0]);
        Assert.Equal(d1, buf[1]);
        Assert.Equal(1, e.GetDomainsAllowedOnCore(1, buf));
        Assert.Equal(0, e.GetDomainsAllowedOnCore(64, buf));
        Assert.Equal(CapabilityError.Ok, e.TryGetRunningDomain(0, out DomainHandle running));
        Assert.Equal(d0, running);
        Assert.Equal(CapabilityError.InvalidCore, e.TryGetRunningDomain(3, out _));
    }

    [Fact]
    public void ShareAndGrantAreAtomic()
    {
        var (e, d0, r0, m1, d1) = Child();
        e.Updates();
        var (revoke, received) = e.Share(d0, r0, A(0x1000, 0x2000, MemoryOperations.Read), m1);
        Assert.Equal("{Region([0x1000, 0x2000 | __R___])}", e.Capas(d1));
        Assert.Equal(CapabilityError.Ok, e.TryGetCapabilityInfo(d0, revoke, out CapabilityInfo info));
        Assert.Equal(CapabilityKind.RegionRevoke, info.Kind);
        Assert.Equal(0, received.Index);
        Assert.Equal("{[0x1000, 0x2000 | 1 (1 - 0 - 0 - 0)]}", e.Regions(d1));
        Assert.Equal("{PermissionUpdate(H(1, gen 0))}", e.Updates());

        var (grantRevoke, _) = e.Grant(d0, r0, A(0x4000, 0x5000, MemoryOperations.Read | MemoryOperations.Write), m1);
        Assert.Equal("{[0x0, 0x4000 | 1 (1 - 1 - 1 - 1)] -> [0x5000, 0x10000 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));
        e.AssertInvariants();
        e.Revoke(d0, grantRevoke);
        e.Revoke(d0, revoke);
        Assert.Equal("{}", e.Regions(d1));
        Assert.Equal("{[0x0, 0x10000 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));

        // A failing send (the receiver's table is full) leaves no alias, no revoke capability behind.
        var (e2, d20, r20) = Boot(0x10000, new EngineCapacities { CapabilitiesPerDomain = 4 });
        LocalCapability m = e2.CreateDomain(d20);
        DomainHandle child = e2.GetDomainHandle(d20, m);
        for (int i = 0; i < 4; i++)
        {
            e2.CreateRootRegion(child, A((ulong)i * 0x10, ((ulong)i * 0x10) + 0x10));
        }

        e2.AssertFailsUnchanged(CapabilityError.OutOfMemory, () => e2.TryShare(d20, r20, A(0x100, 0x200, MemoryOperations.Read), m, out _, out _));
        e2.AssertFailsUnchanged(CapabilityError.OutOfMemory, () => e2.TryGrant(d20, r20, A(0x100, 0x200, MemoryOperations.Read), m, out _, out _));
        e2.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e2.TryGrant(d20, r20, A(0x100, 0x20000, MemoryOperations.Read), m, out _, out _));
    }

    [Fact]
    public void CleanupPoliciesTravelWithTheUpdate()
    {
        var (e, d0, r0) = Boot(0x10000);
        const MemoryOperations RC = MemoryOperations.Read | MemoryOperations.Cleanup;
        Assert.Equal(CapabilityError.Ok, e.TryCarve(d0, r0, A(0x1000, 0x2000, RC), CleanupPolicy.ZeroAndFlush, out LocalCapability flush));
        Assert.Equal(CapabilityError.Ok, e.TryAlias(d0, r0, A(0x3000, 0x4000, RC), CleanupPolicy.Zero, out LocalCapability zeroReadOnly));
        Assert.Equal(CapabilityError.Ok, e.TryAlias(d0, r0, A(0x5000, 0x6000, RC | MemoryOperations.Write), out LocalCapability zeroWritable));
        Assert.Equal(CapabilityError.Ok, e.TryGetRegionInfo(d0, flush, out _, out CleanupPolicy policy, out _, out _));
        Assert.Equal(CleanupPolicy.ZeroAndFlush, policy);
        e.Updates();
        e.Revoke(d0, flush);
        e.Revoke(d0, zeroReadOnly);
        e.Revoke(d0, zeroWritable);
        Update[] updates = new Update[8];
        int n = e.DrainUpdates(updates);
        Update[] cleanups = Array.FindAll(updates[..n], x => x.Kind == UpdateKind.Cleanup);
        Assert.Equal(2, cleanups.Length);
        Assert.Equal(new Update(UpdateKind.Cleanup, DomainHandle.Invalid, start: 0x1000, end: 0x2000, policy: CleanupPolicy.ZeroAndFlush), cleanups[0]);
        Assert.Equal("Cleanup([0x1000, 0x2000], ZeroAndFlush)", cleanups[0].ToString());
        Assert.Equal(new Update(UpdateKind.Cleanup, DomainHandle.Invalid, start: 0x5000, end: 0x6000, policy: CleanupPolicy.Zero), cleanups[1]);
    }

    [Fact]
    public void MemoryMapAndAccessors()
    {
        var (e, d0, r0, m1, d1) = Child();
        e.Share(d0, r0, A(0x1000, 0x2000, MemoryOperations.Read), m1);
        e.Grant(d0, r0, A(0x8000, 0x9000, MemoryOperations.Read | MemoryOperations.Write), m1);
        MemoryMapSegment[] map = new MemoryMapSegment[e.GetMemoryMapLength()];
        Assert.Equal(CapabilityError.Ok, e.TryGetMemoryMap(map, out int n));
        Assert.Equal(
            "[0x0, 0x1000 | refs 1], [0x1000, 0x2000 | refs 2], [0x2000, 0x8000 | refs 1], [0x8000, 0x9000 | refs 1], [0x9000, 0x10000 | refs 1]",
            string.Join(", ", map[..n]));
        Assert.Equal(CapabilityError.OutOfMemory, e.TryGetMemoryMap(new MemoryMapSegment[2], out int none));
        Assert.Equal(0, none);
        MemoryAccessor[] acc = new MemoryAccessor[4];
        Assert.Equal(CapabilityError.Ok, e.TryGetAccessors(0x1800, acc, out int k));
        Assert.Equal(2, k);
        Assert.Equal(new MemoryAccessor(d0, MemoryOperations.Rights), acc[0]);
        Assert.Equal(new MemoryAccessor(d1, MemoryOperations.Read), acc[1]);
        Assert.Equal(CapabilityError.Ok, e.TryGetAccessors(0x8800, acc, out k));
        Assert.Equal(1, k);
        Assert.Equal(d1, acc[0].Domain);
        Assert.Equal(CapabilityError.Ok, e.TryGetAccessors(0x20000, acc, out k));
        Assert.Equal(0, k);
    }

    [Fact]
    public void InvariantCheckerDetectsCorruption()
    {
        var (e, d0, r0, m1, d1) = Child();
        e.Share(d0, r0, A(0x1000, 0x2000, MemoryOperations.Read), m1);
        e.AssertInvariants();
        e.CorruptTrackerForTest(d1, 1);
        InvariantViolation[] v = new InvariantViolation[8];
        int n = e.CheckInvariants(v);
        Assert.True(n >= 1);
        Assert.Contains(v[..Math.Min(n, v.Length)], x => x.Kind == InvariantKind.TrackerMatchesRegions && x.Domain == d1);
        e.CorruptTrackerForTest(d1, -1);
        e.AssertInvariants();

        e.CorruptManagerForTest(d0, d1);
        n = e.CheckInvariants(v);
        Assert.Contains(v[..Math.Min(n, v.Length)], x => x.Kind == InvariantKind.ManagementTree);
        Assert.Equal(n, e.CheckInvariants(Span<InvariantViolation>.Empty));
    }

    [Fact]
    public void TransactionsRollBackEverything()
    {
        var (e, d0, r0, m1, _) = Child();
        string before = e.DumpState();
        e.BeginTransaction();
        Assert.True(e.InTransaction);
        e.Share(d0, r0, A(0x1000, 0x2000, MemoryOperations.Read), m1);
        e.CreateDomain(d0);
        e.CreateRootDevice(d0, Gpu);
        e.RollbackTransaction();
        Assert.False(e.InTransaction);
        Assert.Equal(before, e.DumpState());

        e.BeginTransaction();
        e.Share(d0, r0, A(0x1000, 0x2000, MemoryOperations.Read), m1);
        // A failing operation inside an open transaction rolls back the whole transaction, which stays open.
        Assert.Equal(CapabilityError.InvalidOperation, e.TryCarve(d0, r0, A(0x1800, 0x1900), out _));
        Assert.True(e.InTransaction);
        Assert.Equal(before, e.DumpState());
        e.Grant(d0, r0, A(0x4000, 0x5000), m1);
        e.CommitTransaction();
        Assert.NotEqual(before, e.DumpState());
        e.AssertInvariants();
        Assert.Throws<InvalidOperationException>(e.CommitTransaction);
        Assert.Throws<InvalidOperationException>(e.RollbackTransaction);
        e.BeginTransaction();
        Assert.Throws<InvalidOperationException>(e.BeginTransaction);
        e.CommitTransaction();
    }

    [Fact]
    public void PoppingInsideATransactionIsUndoneByRollback()
    {
        var (e, _, _) = Boot(0x1000);
        string before = e.DumpState();
        e.BeginTransaction();
        Assert.True(e.TryPopUpdate(out _));
        e.RollbackTransaction();
        Assert.Equal(before, e.DumpState());
        Assert.Equal(2, e.PendingUpdateCount);
    }

    [Fact]
    public void MeasurementsAreStored()
    {
        var (e, d0, _, _, d1) = Child();
        Assert.Equal(CapabilityError.Ok, e.TryGetMeasurement(d1, out _, out bool isSet));
        Assert.False(isSet);
        Assert.Equal(CapabilityError.Ok, e.TrySetMeasurement(d1, RegionHash.Filled(7)));
        Assert.Equal(CapabilityError.Ok, e.TryGetMeasurement(d1, out RegionHash h, out isSet));
        Assert.True(isSet);
        Assert.Equal(RegionHash.Filled(7), h);
        e.RevokeDomain(d1);
        Assert.Equal(CapabilityError.StaleDomain, e.TrySetMeasurement(d1, h));
        Assert.Equal(CapabilityError.Ok, e.TryGetMeasurement(d0, out _, out isSet));
        Assert.False(isSet);
    }

    [Fact]
    public void SerializationAppendsDevicesOnlyWhenPresent()
    {
        var (e, d0, _, _, _) = Child();
        int without = e.GetAttestationLength();
        e.CreateRootDevice(d0, Gpu);
        byte[] bytes = new byte[e.GetAttestationLength()];
        Assert.Equal(CapabilityError.Ok, e.TrySerializeAttestation(bytes, out int written));
        Assert.Equal(without + 1 + 12 + 1, written);
        Assert.Equal(0x03, bytes[without - 1]);
        Assert.Equal(0xFF, bytes[^2]);
        Assert.Equal(0x00, bytes[^1]);
    }

    [Fact]
    public void OperationsDoNotAllocate()
    {
        var (e, d0, r0, m1, _) = Child();
        Update[] sink = new Update[64];
        Span<InvariantViolation> violations = stackalloc InvariantViolation[4];
        Span<MemoryPermission> perms = stackalloc MemoryPermission[16];
        Span<byte> attestation = stackalloc byte[512];
        RunMix(e, d0, r0, m1, sink, violations, perms, attestation); // warm up (JIT, statics)
        long allocated = long.MaxValue; // smallest of identical batches (see AllocationTests.MeasuredBatches)
        for (int attempt = 0; attempt < Verification.AllocationTests.MeasuredBatches && allocated != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 50; i++)
            {
                RunMix(e, d0, r0, m1, sink, violations, perms, attestation);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, allocated);
    }

    private static void RunMix(CapabilityEngine e, DomainHandle d0, LocalCapability r0, LocalCapability m1, Update[] sink,
        Span<InvariantViolation> violations, Span<MemoryPermission> perms, Span<byte> attestation)
    {
        e.TryAlias(d0, r0, A(0x100, 0x200), out LocalCapability a);
        e.TryCarve(d0, r0, A(0x300, 0x400, MemoryOperations.Read), out LocalCapability c);
        e.TryCarve(d0, r0, A(0x380, 0x400), out _); // fails: overlaps a carve
        e.TryShare(d0, r0, A(0x500, 0x600, MemoryOperations.Read), m1, out LocalCapability rv, out _);
        e.TryCreateDomain(d0, out LocalCapability m);
        e.TryGetPermissions(d0, perms, out _);
        e.CheckInvariants(violations);
        e.TrySerializeAttestation(attestation, out _);
        e.TryRevoke(d0, a);
        e.TryRevoke(d0, c);
        e.TryRevoke(d0, rv);
        e.TryRevoke(d0, m);
        e.TryRevokeDomain(new DomainHandle(9, 9));
        int token = 0;
        while (e.TryEnumerate(d0, ref token, out _, out _))
        {
        }

        e.DrainUpdates(sink);
    }
}

/// <summary>Device edge cases.</summary>
public sealed class DeviceEdgeTests
{
    [Fact]
    public void RevokingAnUnsentDeviceWithOwnRevokeCapabilityIsRefusedForRootDevices()
    {
        var (e, d0, _) = Boot(0x1000);
        LocalCapability dev = e.CreateRootDevice(d0, new DeviceId(0, 1, 0, 0));
        e.CreateRevokeCapability(d0, dev);
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryRevoke(d0, dev));
        e.AssertInvariants();
    }

    [Fact]
    public void HolderRevokingAGrantedDeviceGivesItBack()
    {
        var (e, d0, _) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        DeviceId id = new(0, 1, 0, 0);
        LocalCapability dev = e.CreateRootDevice(d0, id);
        e.CreateRevokeCapability(d0, dev);
        LocalCapability inChild = e.Send(d0, dev, m1);
        e.Revoke(d1, inChild);
        Assert.Equal(CapabilityError.Ok, e.TryGetDeviceOwner(id, out DomainHandle owner));
        Assert.Equal(d0, owner);
        e.AssertInvariants();
    }
}
