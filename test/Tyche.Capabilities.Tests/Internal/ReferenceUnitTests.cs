// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;
using Tyche.Capabilities.Tests.Engine;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Internal;

/// <summary>
/// The reference's internal unit tests (notes §6.1 items 1–5, §6.2), adapted to this engine's structures: the update
/// buffer is the engine's queue (a Trap update carries the pushed value in its info word), the free list is the domain
/// pool, the tracker is driven through root regions (which may overlap) and its treap index.
/// </summary>
public sealed class ReferenceUnitTests
{
    private static (CapabilityEngine E, DomainHandle Child) Queue(int capacity = 128)
    {
        CapabilityEngine e = new(new EngineCapacities { PendingUpdates = capacity });
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        LocalCapability m = e.CreateDomain(d0);
        DomainHandle child = e.GetDomainHandle(d0, m);
        Assert.Equal(CapabilityError.Ok, e.TrySetDomainConfiguration(child, ConfigurationBitmap.Trap, 1));
        e.Updates();
        return (e, child);
    }

    private static CapabilityError Push(CapabilityEngine e, DomainHandle child, int value) => e.TryHandleTrap(child, 0, 1, (ulong)value);

    private static int? Pop(CapabilityEngine e) => e.TryPopUpdate(out Update u) ? (int)u.Info : null;

    private static bool Contains(CapabilityEngine e, int value)
    {
        // Inspect without consuming: a rolled-back transaction restores the queue.
        e.BeginTransaction();
        bool found = false;
        while (e.TryPopUpdate(out Update u))
        {
            found |= (int)u.Info == value;
        }

        e.RollbackTransaction();
        return found;
    }

    [Fact]
    public void EmptyBuffer()
    {
        var (e, c) = Queue();
        Assert.Null(Pop(e));
        Assert.Null(Pop(e));
        Assert.Equal(CapabilityError.Ok, Push(e, c, 1));
        Assert.Equal(1, Pop(e));
        Assert.Null(Pop(e));
        Assert.Null(Pop(e));
    }

    [Fact]
    public void BufferPushPop()
    {
        var (e, c) = Queue();
        Push(e, c, 1);
        Push(e, c, 2);
        Push(e, c, 3);
        Assert.Equal(1, Pop(e));
        Assert.Equal(2, Pop(e));
        Assert.Equal(3, Pop(e));
        Assert.Null(Pop(e));
    }

    [Fact]
    public void BufferFull()
    {
        var (e, c) = Queue();
        for (int i = 0; i < 128; i++)
        {
            Assert.Equal(CapabilityError.Ok, Push(e, c, i));
        }

        e.AssertFailsUnchanged(CapabilityError.UpdateQueueFull, () => Push(e, c, 128));
    }

    [Fact]
    public void BufferCircularBehaviour()
    {
        var (e, c) = Queue();
        for (int i = 0; i < 128; i++)
        {
            Push(e, c, i);
        }

        Assert.Equal(0, Pop(e));
        Assert.Equal(1, Pop(e));
        Assert.Equal(CapabilityError.Ok, Push(e, c, 128));
        Assert.Equal(CapabilityError.Ok, Push(e, c, 129));
        Assert.Equal(CapabilityError.UpdateQueueFull, Push(e, c, 666));
        Assert.Equal(CapabilityError.UpdateQueueFull, Push(e, c, 777));
        for (int i = 2; i < 130; i++)
        {
            Assert.Equal(i, Pop(e));
        }

        Assert.Null(Pop(e));
    }

    [Fact]
    public void BufferContains()
    {
        var (e, c) = Queue();
        Assert.False(Contains(e, 0));
        for (int i = 0; i < 128; i++)
        {
            Push(e, c, i);
        }

        Assert.True(Contains(e, 10));
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(i, Pop(e));
        }

        for (int i = 0; i < 128; i++)
        {
            Assert.Equal(i >= 10, Contains(e, i));
        }
    }

    [Fact]
    public void FreeListCapacity()
    {
        CapabilityEngine e = new(new EngineCapacities { Domains = 10 });
        Assert.Equal(10, e.GetFreeCapacity().Domains);
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        LocalCapability[] m = new LocalCapability[4];
        DomainHandle[] d = new DomainHandle[4];
        d[0] = d0;
        Assert.Equal(9, e.GetFreeCapacity().Domains);
        for (int i = 1; i < 4; i++)
        {
            m[i] = e.CreateDomain(d0);
            d[i] = e.GetDomainHandle(d0, m[i]);
            Assert.Equal(i, d[i].Index);
            Assert.Equal(9 - i, e.GetFreeCapacity().Domains);
        }

        e.Revoke(d0, m[2]);
        Assert.Equal(7, e.GetFreeCapacity().Domains);
        e.Revoke(d0, m[1]);
        Assert.Equal(8, e.GetFreeCapacity().Domains);
        Assert.Equal(new DomainHandle(1, 1), e.GetDomainHandle(d0, e.CreateDomain(d0)));
        Assert.Equal(7, e.GetFreeCapacity().Domains);
        Assert.Equal(new DomainHandle(2, 1), e.GetDomainHandle(d0, e.CreateDomain(d0)));
        Assert.Equal(6, e.GetFreeCapacity().Domains);
    }

    private static (CapabilityEngine E, DomainHandle D) Tracker(params (ulong Start, ulong End)[] ranges)
    {
        CapabilityEngine e = new();
        DomainHandle d = e.CreateManagerDomain(DomainPermissions.All);
        foreach (var (s, end) in ranges)
        {
            e.CreateRootRegion(d, A(s, end));
        }

        e.AssertInvariants();
        return (e, d);
    }

    private static string Counts(CapabilityEngine e, DomainHandle d)
    {
        TrackerSegment[] t = new TrackerSegment[e.GetTrackerSegmentCount(d)];
        e.TryGetTrackerSegments(d, t, out _);
        return string.Join(", ", Array.ConvertAll(t, x => FormattableString.Invariant($"[0x{x.Start:x}, 0x{x.End:x}]:{x.ReferenceCount}")));
    }

    [Fact]
    public void RegionContainsAddress()
    {
        var (e, _) = Tracker((0x100, 0x200));
        MemoryAccessor[] a = new MemoryAccessor[2];
        foreach (ulong inside in new ulong[] { 0x100, 0x150 })
        {
            e.TryGetAccessors(inside, a, out int n);
            Assert.Equal(1, n);
        }

        foreach (ulong outside in new ulong[] { 0x50, 0x200, 0x250 })
        {
            e.TryGetAccessors(outside, a, out int n);
            Assert.Equal(0, n);
        }
    }

    [Fact]
    public void RegionPoolLowerBound()
    {
        var (e, d) = Tracker((0x100, 0x1000));
        Assert.False(e.TryTrackerLowerBound(d, 0x50, out _, out _));
        Assert.True(e.TryTrackerLowerBound(d, 0x100, out ulong s, out bool head));
        Assert.Equal((0x100UL, true), (s, head));
        Assert.True(e.TryTrackerLowerBound(d, 0x200, out s, out head));
        Assert.Equal((0x100UL, true), (s, head));
    }

    [Fact]
    public void RegionAdd()
    {
        Assert.Equal("[0x100, 0x200]:1, [0x300, 0x400]:1", Counts(Tracker((0x300, 0x400), (0x100, 0x200)).E, Tracker((0x300, 0x400), (0x100, 0x200)).D));
        var t = Tracker((0x200, 0x400), (0x100, 0x300));
        Assert.Equal("[0x100, 0x200]:1, [0x200, 0x300]:2, [0x300, 0x400]:1", Counts(t.E, t.D));
        t = Tracker((0x100, 0x400), (0x200, 0x300));
        Assert.Equal("[0x100, 0x200]:1, [0x200, 0x300]:2, [0x300, 0x400]:1", Counts(t.E, t.D));
        t = Tracker((0x100, 0x400), (0x500, 0x1000), (0x200, 0x600));
        Assert.Equal("[0x100, 0x200]:1, [0x200, 0x400]:2, [0x400, 0x500]:1, [0x500, 0x600]:2, [0x600, 0x1000]:1", Counts(t.E, t.D));
        t = Tracker((0x200, 0x300), (0x300, 0x400));
        Assert.Equal("[0x200, 0x400]:1", Counts(t.E, t.D));
        t.E.CreateRootRegion(t.D, A(0x100, 0x500));
        Assert.Equal("[0x100, 0x200]:1, [0x200, 0x400]:2, [0x400, 0x500]:1", Counts(t.E, t.D));
        t = Tracker((0x100, 0x200), (0x100, 0x200));
        Assert.Equal("[0x100, 0x200]:2", Counts(t.E, t.D));
        t = Tracker((0x200, 0x300), (0x100, 0x300));
        Assert.Equal("[0x100, 0x200]:1, [0x200, 0x300]:2", Counts(t.E, t.D));
        t.E.AssertInvariants();
    }

    [Fact]
    public void RegionRefcount()
    {
        var (e, d) = Tracker((0x100, 0x300), (0x600, 0x1000), (0x200, 0x400));
        Assert.Equal("[0x100, 0x200]:1, [0x200, 0x300]:2, [0x300, 0x400]:1, [0x600, 0x1000]:1", Counts(e, d));
        (ulong, ulong, int)[] cases =
        [
            (0, 0x50, 0), (0, 0x100, 0), (0, 0x150, 1), (0x100, 0x200, 1), (0x100, 0x250, 2), (0, 0x250, 2),
            (0x100, 0x400, 2), (0x100, 0x500, 2), (0x400, 0x500, 0), (0x450, 0x500, 0), (0x400, 0x2000, 1), (0x1500, 0x2000, 0),
        ];
        foreach (var (s, end, expected) in cases)
        {
            Assert.Equal(expected, e.TrackerReferenceCount(d, s, end));
        }
    }

    [Fact]
    public void RegionOverlap()
    {
        AccessRights r = A(10, 20);
        foreach (var (s, end) in new (ulong, ulong)[] { (5, 15), (12, 18), (15, 25), (10, 20), (5, 25) })
        {
            Assert.True(r.Overlaps(A(s, end)));
        }

        foreach (var (s, end) in new (ulong, ulong)[] { (2, 8), (22, 28), (2, 10), (20, 28) })
        {
            Assert.False(r.Overlaps(A(s, end)));
        }
    }

    [Fact]
    public void SegmentAlias()
    {
        CapabilityEngine e = new();
        DomainHandle d = e.CreateManagerDomain(DomainPermissions.All);
        LocalCapability root = e.CreateRootRegion(d, A(0x10, 0x100));
        foreach (var (s, end) in new (ulong, ulong)[] { (0x20, 0x30), (0x20, 0x30), (0x25, 0x30), (0x10, 0x40), (0x50, 0x70) })
        {
            Assert.Equal(CapabilityError.Ok, e.TryAlias(d, root, A(s, end), out _));
        }

        foreach (var (s, end) in new (ulong, ulong)[] { (0x5, 0x30), (0x20, 0x120), (0x30, 0x20) })
        {
            e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryAlias(d, root, A(s, end), out _));
        }

        e.AssertInvariants();
    }

    [Fact]
    public void SegmentCarve()
    {
        CapabilityEngine e = new();
        DomainHandle d = e.CreateManagerDomain(DomainPermissions.All);
        LocalCapability root = e.CreateRootRegion(d, A(0x10, 0x100));
        foreach (var (s, end) in new (ulong, ulong)[] { (0x20, 0x30), (0x50, 0x60), (0x60, 0x70) })
        {
            Assert.Equal(CapabilityError.Ok, e.TryCarve(d, root, A(s, end), out _));
        }

        foreach (var (s, end) in new (ulong, ulong)[] { (0x5, 0x30), (0x20, 0x30), (0x22, 0x28), (0x30, 0x20) })
        {
            e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d, root, A(s, end), out _));
        }

        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryAlias(d, root, A(0x20, 0x25), out _));
        e.AssertInvariants();
    }

    [Fact]
    public void BitmapIteratorYieldsSetBits()
    {
        BitmapIterator it = new(0b1010);
        Assert.True(it.MoveNext(out int bit));
        Assert.Equal(1, bit);
        Assert.True(it.MoveNext(out bit));
        Assert.Equal(3, bit);
        Assert.False(it.MoveNext(out _));
    }

    [Fact]
    public void ManyChildrenStayIndexedInReferenceOrder()
    {
        var (e, d0, r0) = Boot(0x100000);
        // Equal starts keep creation order; interleaved starts are sorted; every step keeps the treaps consistent.
        for (ulong i = 0; i < 60; i++)
        {
            ulong s = ((i * 37) % 64) * 0x100;
            e.Alias(d0, r0, A(s, s + 0x80, MemoryOperations.Read));
            e.Alias(d0, r0, A(s, s + 0x40, MemoryOperations.Write | MemoryOperations.Read));
        }

        e.AssertInvariants();
        string capas = e.Capas(d0);
        Assert.StartsWith("{Region([0x0, 0x100000 | PURWXS]), Region([0x0, 0x80 | __R___]), Region([0x0, 0x40 | __RW__])", capas, StringComparison.Ordinal);
        byte[] bytes = new byte[e.GetAttestationLength()];
        Assert.Equal(CapabilityError.Ok, e.TrySerializeAttestation(bytes, out _));
        e.AssertFailsUnchanged(CapabilityError.InvalidOperation, () => e.TryCarve(d0, r0, A(0x3f70, 0x3f90), out _));
        Assert.Equal(CapabilityError.Ok, e.TryCarve(d0, r0, A(0x4000, 0x5000), out _));
        e.AssertInvariants();
    }
}
