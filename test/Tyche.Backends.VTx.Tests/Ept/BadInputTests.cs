// SPDX-License-Identifier: Apache-2.0
using System;
using System.Security.Cryptography;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.Ept;

/// <summary>Bad input gets a typed refusal and changes nothing: engine state, update queue, table bytes, free frames.</summary>
public sealed class BadInputTests
{
    private const ulong KiB4 = 0x1000;
    private const ulong GiB1 = 0x4000_0000;

    private static string Tables(Rig rig) => Convert.ToHexString(SHA256.HashData(rig.Memory.TableAreaBytes));

    private static void AssertRefusedUnchanged(Rig rig, Func<CapabilityError> operation, BackendRefusalReason reason, Action<BackendRefusal>? check = null)
    {
        string engine = rig.EngineSnapshot();
        string tables = Tables(rig);
        byte[] bytes = rig.Memory.TableAreaBytes.ToArray();
        int free = rig.Memory.FreeFrameCount;
        Assert.Equal(CapabilityError.RejectedByBackend, operation());
        Assert.Equal(reason, rig.Monitor.LastRefusal.Reason);
        Assert.Equal("vtx", rig.Monitor.LastRefusal.Backend);
        check?.Invoke(rig.Monitor.LastRefusal);
        Assert.Equal(engine, rig.EngineSnapshot());
        Assert.Equal(tables, Tables(rig));
        Assert.True(bytes.AsSpan().SequenceEqual(rig.Memory.TableAreaBytes));
        Assert.Equal(free, rig.Memory.FreeFrameCount);
        Assert.Equal(0, rig.Engine.PendingUpdateCount);
        Assert.Equal(0, rig.Monitor.Actions.Count);
    }

    [Fact]
    public void MisalignedRangesAreRefused()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(GiB1, out LocalCapability r0);
        var (_, m1) = rig.Child(d0);
        AssertRefusedUnchanged(rig, () => rig.Monitor.TryShare(d0, r0, new AccessRights(0x1000, 0x1800, MemoryOperations.Read), m1, out _, out _),
            BackendRefusalReason.MisalignedRange, r => Assert.Equal(0x1800UL, r.Address));
        AssertRefusedUnchanged(rig, () => rig.Monitor.TryCarve(d0, r0, new AccessRights(0x10, 0x2000, MemoryOperations.Read), out _),
            BackendRefusalReason.MisalignedRange, r => Assert.Equal(0x10UL, r.Address));
        AssertRefusedUnchanged(rig, () => rig.Monitor.TryCreateRootRegion(d0, new AccessRights(GiB1 + 0x800, GiB1 + 0x1000, MemoryOperations.All), out _),
            BackendRefusalReason.MisalignedRange);
    }

    [Fact]
    public void OverWideAddressesAreRefused()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(GiB1, out _);
        AssertRefusedUnchanged(rig, () => rig.Monitor.TryCreateRootRegion(d0, new AccessRights(1UL << 46, (1UL << 46) + KiB4, MemoryOperations.All), out _),
            BackendRefusalReason.AddressTooWide, r => Assert.Equal(46UL, r.Available));

        // MAXPHYADDR 52: the host address fits, but a 4-level EPT only covers 48 guest-physical bits.
        var wide = new Rig(options: new VtxBackendOptions { PhysicalAddressBits = 52 });
        DomainHandle w0 = wide.Boot(GiB1, out _);
        AssertRefusedUnchanged(wide, () => wide.Monitor.TryCreateRootRegion(w0, new AccessRights(1UL << 48, (1UL << 48) + KiB4, MemoryOperations.All), out _),
            BackendRefusalReason.AddressTooWide, r => Assert.Equal(48UL, r.Available));
    }

    [Fact]
    public void AnAllocatorRunningDryAtEveryPointOfAnUpdateChangesNothing()
    {
        var memory = new PhysicalMemory(Rig.TableBase, 256, 0, 256);
        var dry = new DryAllocator(memory);
        var rig = new RigWith(memory, dry);
        DomainHandle d0 = rig.Boot(8 * GiB1, out LocalCapability r0);
        var (child, m1) = rig.Child(d0);
        // Needs: the child's PDPT, PDs and PTs for two 1 GiB boundaries crossed at 4 KiB granularity, plus d0's splits.
        var access = new AccessRights(GiB1 - KiB4, (2 * GiB1) + KiB4, MemoryOperations.Read | MemoryOperations.Write);
        int needed = -1;
        for (int budget = 0; budget < 64; budget++)
        {
            dry.Budget = budget;
            string engine = rig.EngineSnapshot();
            byte[] bytes = memory.TableAreaBytes.ToArray();
            int free = memory.FreeFrameCount;
            CapabilityError result = rig.Monitor.TryGrant(d0, r0, access, m1, out _, out _);
            if (result == CapabilityError.Ok)
            {
                needed = budget;
                break;
            }

            Assert.Equal(CapabilityError.RejectedByBackend, result);
            Assert.Equal(BackendRefusalReason.OutOfTableFrames, rig.Monitor.LastRefusal.Reason);
            Assert.Equal(engine, rig.EngineSnapshot());
            Assert.True(bytes.AsSpan().SequenceEqual(memory.TableAreaBytes), $"table bytes changed with budget {budget}");
            Assert.Equal(free, memory.FreeFrameCount);
        }

        Assert.True(needed >= 5, $"the update needed {needed} frames");
        dry.Budget = int.MaxValue;
        rig.CheckDomain(child, new Random(1), 64, 3 * GiB1, "after the successful grant");
        rig.CheckDomain(d0, new Random(2), 64, 9 * GiB1, "after the successful grant");
    }

    [Fact]
    public void AnEmptyTableAreaRefusesDomainCreation()
    {
        var memory = new PhysicalMemory(Rig.TableBase, 1, 0, 1);
        var rig = new RigWith(memory, memory);
        Rig.Ok(rig.Monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        AssertRefusedUnchanged(rig.AsRig(), () => rig.Monitor.TryCreateRootRegion(d0, new AccessRights(0, KiB4, MemoryOperations.All), out _),
            BackendRefusalReason.OutOfTableFrames);
        AssertRefusedUnchanged(rig.AsRig(), () => rig.Monitor.TryCreateManagerDomain(DomainPermissions.All, out _), BackendRefusalReason.OutOfTableFrames);
    }

    /// <summary>A <see cref="Rig"/> built over a given memory and allocator.</summary>
    private sealed class RigWith
    {
        private readonly Rig _rig;

        public RigWith(PhysicalMemory memory, IFrameAllocator allocator) => _rig = Rig.Over(memory, allocator);

        public Monitor Monitor => _rig.Monitor;

        public Rig AsRig() => _rig;

        public DomainHandle Boot(ulong end, out LocalCapability root) => _rig.Boot(end, out root);

        public (DomainHandle, LocalCapability) Child(DomainHandle d) => _rig.Child(d);

        public string EngineSnapshot() => _rig.EngineSnapshot();

        public void CheckDomain(DomainHandle d, Random r, int n, ulong limit, string context) => _rig.CheckDomain(d, r, n, limit, context);
    }
}
