// SPDX-License-Identifier: Apache-2.0
using System;
using System.Linq;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx.Tests.Walkers;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.VtD;

/// <summary>VT-d root/context/second-level tables: exact entry values, domain ids, re-pointing on moves, and the invalidations.</summary>
public sealed class VtdTests
{
    private const ulong KiB4 = 0x1000;
    private const ulong MiB2 = 0x20_0000;
    private static readonly DeviceId Gpu = new(0, 0, 2, 0);
    private static readonly DeviceId Nic = new(0, 3, 0, 1);

    private static MonitorAction[] Of(MonitorActionList actions, MonitorActionKind kind) => actions.AsSpan().ToArray().Where(a => a.Kind == kind).ToArray();

    private static (ulong Low, ulong High) ContextEntry(Rig rig, DeviceId device)
    {
        Assert.True(rig.Backend.TryGetRootTable(device.Segment, out ulong root));
        ulong rootEntry = rig.Read(root + (device.Bus * 16UL));
        Assert.Equal(1UL, rootEntry & 0xFFF); // present, nothing else in the low bits
        Assert.Equal(0UL, rig.Read(root + (device.Bus * 16UL) + 8)); // high qword reserved in legacy mode
        ulong entry = (rootEntry & ~0xFFFUL) + (device.DevFn * 16UL);
        return (rig.Read(entry), rig.Read(entry + 8));
    }

    [Fact]
    public void ContextEntryPointsAtTheOwnersSecondLevelTableWithItsDomainId()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(MiB2 * 4, out _, ops: MemoryOperations.All);
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, Gpu, out _));
        Assert.True(rig.Backend.TryGetSecondLevelTable(d0, out ulong sl, out ushort did));
        Assert.Equal(1, did);
        (ulong low, ulong high) = ContextEntry(rig, Gpu);
        Assert.Equal(sl | 0x1, low); // SLPTPTR | TT = 00b | P
        Assert.Equal(0x2UL | (1UL << 8), high); // AW = 010b (48-bit, 4-level) | DID 1
        Assert.Empty(Of(rig.Monitor.Actions, MonitorActionKind.ContextCacheInvalidate)); // not present → present, CM = 0
        Translation t = SpecVtdWalker.Walk(rig.Read, ReadRoot(rig), Gpu.Bus, Gpu.DevFn, MiB2 + 0x123, rig.PhysicalAddressBits, out int walkedDid);
        Assert.True(t.Status == WalkStatus.Ok && t.Read && t.Write && !t.Execute && t.Hpa == MiB2 + 0x123 && t.PageSize == MiB2, t.ToString());
        Assert.Equal(1, walkedDid);
        Assert.Equal(WalkStatus.NotPresent, SpecVtdWalker.Walk(rig.Read, ReadRoot(rig), Nic.Bus, Nic.DevFn, 0, rig.PhysicalAddressBits, out _).Status);
    }

    private static ulong ReadRoot(Rig rig)
    {
        Assert.True(rig.Backend.TryGetRootTable(0, out ulong root));
        return root;
    }

    [Fact]
    public void MovingADeviceRepointsItAndInvalidatesTheOldDomain()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(MiB2 * 4, out LocalCapability r0);
        var (d1, m1) = rig.Child(d0);
        Rig.Ok(rig.Monitor.TryShare(d0, r0, new AccessRights(MiB2, MiB2 + (4 * KiB4), MemoryOperations.Read), m1, out _, out _));
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, Gpu, out LocalCapability gpu));
        rig.Monitor.Begin();
        Rig.Ok(rig.Monitor.Complete(rig.Engine.TryCreateRevokeCapability(d0, gpu, out LocalCapability revoke)));
        int framesWithD0Table = rig.Memory.AllocatedFrameCount;

        Rig.Ok(rig.Monitor.TrySend(d0, gpu, m1, out _));
        Assert.True(rig.Backend.TryGetSecondLevelTable(d1, out ulong sl1, out ushort did1));
        Assert.Equal(2, did1);
        Assert.False(rig.Backend.TryGetSecondLevelTable(d0, out _, out _));
        (ulong low, ulong high) = ContextEntry(rig, Gpu);
        Assert.Equal(sl1 | 0x1, low);
        Assert.Equal(0x2UL | (2UL << 8), high);
        Assert.Equal([MonitorAction.ContextCacheInvalidate(ContextCacheGranularity.DeviceSelective, 1, Gpu)], Of(rig.Monitor.Actions, MonitorActionKind.ContextCacheInvalidate));
        Assert.Equal([MonitorAction.IotlbInvalidate(DomainHandle.Invalid, IotlbGranularity.DomainSelective, 1)], Of(rig.Monitor.Actions, MonitorActionKind.IotlbInvalidate));
        Assert.NotEmpty(Of(rig.Monitor.Actions, MonitorActionKind.ReleaseTablePage)); // d0's second-level table went back
        rig.CheckDevice(Gpu, new Random(3), 32, MiB2 * 8, "moved to d1");
        Translation t = SpecVtdWalker.Walk(rig.Read, ReadRoot(rig), Gpu.Bus, Gpu.DevFn, MiB2, rig.PhysicalAddressBits, out _);
        Assert.True(t.Read && !t.Write, t.ToString());

        Rig.Ok(rig.Monitor.TryRevoke(d0, revoke));
        Assert.True(rig.Backend.TryGetSecondLevelTable(d0, out _, out ushort didBack));
        Assert.Equal(1, didBack); // lowest free id again
        Assert.Equal([MonitorAction.ContextCacheInvalidate(ContextCacheGranularity.DeviceSelective, 2, Gpu)], Of(rig.Monitor.Actions, MonitorActionKind.ContextCacheInvalidate));
        Assert.False(rig.Backend.TryGetSecondLevelTable(d1, out _, out _));
        Assert.Equal(framesWithD0Table, rig.Memory.AllocatedFrameCount);
        rig.CheckDevice(Gpu, new Random(4), 32, MiB2 * 8, "back to d0");
    }

    [Fact]
    public void OwnerPermissionChangesInvalidateTheIotlbOnlyWhenRightsShrink()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(MiB2 * 4, out LocalCapability r0);
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, Gpu, out _));
        Rig.Ok(rig.Monitor.TryCarve(d0, r0, new AccessRights(MiB2 + KiB4, MiB2 + (2 * KiB4), MemoryOperations.Read), out LocalCapability carve));
        // Splitting the 2 MiB page and dropping W: page-selective IOTLB for the 2 MiB block (AM = 9) of domain id 1.
        Assert.Equal([MonitorAction.IotlbInvalidate(d0, IotlbGranularity.PageSelective, 1, MiB2, 9)], Of(rig.Monitor.Actions, MonitorActionKind.IotlbInvalidate));
        rig.CheckDevice(Gpu, new Random(5), 16, MiB2 * 8, "after carve");
        Rig.Ok(rig.Monitor.TryRevoke(d0, carve));
        // Merging back changes the page size (bit 7), which also needs an invalidation.
        Assert.Single(Of(rig.Monitor.Actions, MonitorActionKind.IotlbInvalidate));

        var rights = new Rig(options: new VtxBackendOptions { SecondLevel2MiBPages = false });
        DomainHandle e0 = rights.Boot(16 * KiB4, out LocalCapability q0);
        Rig.Ok(rights.Monitor.TryCreateRootDevice(e0, Gpu, out _));
        Rig.Ok(rights.Monitor.TryCarve(e0, q0, new AccessRights(KiB4, 2 * KiB4, MemoryOperations.Read | MemoryOperations.Write), out LocalCapability c));
        Assert.Empty(Of(rights.Monitor.Actions, MonitorActionKind.IotlbInvalidate)); // RWXS → RW: for a device (no X) nothing changed
        Rig.Ok(rights.Monitor.TryRevoke(e0, c));
        Assert.Empty(Of(rights.Monitor.Actions, MonitorActionKind.IotlbInvalidate));
    }

    [Fact]
    public void CachingModeAndWriteBufferFlushAddTheirActions()
    {
        var rig = new Rig(options: new VtxBackendOptions { VtdCachingMode = true, VtdWriteBufferFlush = true });
        DomainHandle d0 = rig.Boot(MiB2, out LocalCapability r0);
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, Gpu, out _));
        Assert.Equal([MonitorAction.ContextCacheInvalidate(ContextCacheGranularity.DeviceSelective, 0, Gpu)], Of(rig.Monitor.Actions, MonitorActionKind.ContextCacheInvalidate));
        Assert.NotEmpty(Of(rig.Monitor.Actions, MonitorActionKind.WriteBufferFlush));
        Rig.Ok(rig.Monitor.TryCreateRootRegion(d0, new AccessRights(MiB2, MiB2 + KiB4, MemoryOperations.All), out _));
        Assert.Single(Of(rig.Monitor.Actions, MonitorActionKind.IotlbInvalidate)); // not present → present needs it in caching mode
    }

    [Fact]
    public void RunningOutOfDomainIdsIsRefusedAndChangesNothing()
    {
        var rig = new Rig(options: new VtxBackendOptions { VtdDomainIds = 2 });
        DomainHandle d0 = rig.Boot(MiB2, out _);
        var (_, m1) = rig.Child(d0);
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, Gpu, out _));
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, Nic, out LocalCapability nic));
        string engine = rig.EngineSnapshot();
        byte[] tables = rig.Memory.TableAreaBytes.ToArray();
        Assert.Equal(CapabilityError.RejectedByBackend, rig.Monitor.TrySend(d0, nic, m1, out _));
        Assert.Equal(BackendRefusalReason.OutOfDomainIds, rig.Monitor.LastRefusal.Reason);
        Assert.Equal(engine, rig.EngineSnapshot());
        Assert.True(tables.AsSpan().SequenceEqual(rig.Memory.TableAreaBytes));
    }
}
