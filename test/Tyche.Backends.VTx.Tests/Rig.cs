// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx.Tests.Walkers;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests;

/// <summary>An engine, a physical memory, a VT-x backend and the monitor facade wired together, plus oracles.</summary>
internal sealed class Rig
{
    public const ulong TableBase = 0x40_0000_0000; // 256 GiB: table memory lies outside every range the tests grant.

    public Rig(int tableFrames = 512, VtxBackendOptions? options = null, ulong memoryBase = TableBase, int dataFrames = 0,
        IFrameAllocator? allocator = null, EngineCapacities? capacities = null, IEnumerable<IIsolationBackend>? extraBackends = null,
        PhysicalMemory? memory = null)
    {
        Memory = memory ?? new PhysicalMemory(memoryBase, dataFrames + tableFrames, dataFrames, tableFrames);
        Backend = new VtxBackend(Memory, allocator ?? Memory, options);
        Engine = new CapabilityEngine(capacities);
        var backends = new List<IIsolationBackend> { Backend };
        if (extraBackends is not null)
        {
            backends.AddRange(extraBackends);
        }

        Monitor = new Monitor(Engine, backends, Memory);
    }

    public static Rig Over(PhysicalMemory memory, IFrameAllocator allocator) => new(memory: memory, allocator: allocator);

    public PhysicalMemory Memory { get; }

    /// <summary>Device probes that translated (so the VT-d comparison is known to have exercised mapped memory).</summary>
    public int DeviceTranslations { get; private set; }

    public VtxBackend Backend { get; }

    public CapabilityEngine Engine { get; }

    public Monitor Monitor { get; }

    public int PhysicalAddressBits => Backend.Options.PhysicalAddressBits;

    public ulong Read(ulong address) => Memory.ReadEntry(address);

    public DomainHandle Boot(ulong rootEnd, out LocalCapability root, MemoryOperations ops = MemoryOperations.All, ulong rootStart = 0)
    {
        Ok(Monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        Ok(Monitor.TryStartDomainOnCore(d0, 0));
        Ok(Monitor.TryCreateRootRegion(d0, new AccessRights(rootStart, rootEnd, ops), out root));
        return d0;
    }

    public (DomainHandle Child, LocalCapability Management) Child(DomainHandle manager)
    {
        Ok(Monitor.TryCreateDomain(manager, out LocalCapability m));
        Ok(Engine.TryGetDomainHandle(manager, m, out DomainHandle child));
        return (child, m);
    }

    public static void Ok(CapabilityError error) => Assert.Equal(CapabilityError.Ok, error);

    public MemoryPermission[] Permissions(DomainHandle d)
    {
        var p = new MemoryPermission[Engine.GetPermissionCount(d)];
        Ok(Engine.TryGetPermissions(d, p, out int n));
        return p[..n];
    }

    public Translation WalkEpt(DomainHandle d, ulong gpa)
    {
        Assert.True(Backend.TryGetEptPointer(d, out ulong eptp), $"no EPT for {d}");
        return SdmEptWalker.Walk(Read, eptp, gpa, PhysicalAddressBits, Backend.Options.ExecuteOnly);
    }

    public static MemoryOperations ExpectedEpt(MemoryPermission[] permissions, ulong address)
    {
        foreach (MemoryPermission p in permissions)
        {
            if (address >= p.Start && address < p.End)
            {
                MemoryOperations ops = p.Operations & (MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute);
                return (ops & MemoryOperations.Read) == 0 ? MemoryOperations.None : ops;
            }
        }

        return MemoryOperations.None;
    }

    /// <summary>Walker(EPT) equals the engine's effective rights, identity-mapped, WB, for one address.</summary>
    public void CheckEptAddress(DomainHandle d, MemoryPermission[] permissions, ulong address, string context)
    {
        Translation t = WalkEpt(d, address);
        MemoryOperations expected = ExpectedEpt(permissions, address);
        if (expected == MemoryOperations.None)
        {
            Assert.True(t.Status == WalkStatus.NotPresent, $"{context}: {d} 0x{address:x} expected no access, walker {t}");
            return;
        }

        Assert.True(t.Status == WalkStatus.Ok, $"{context}: {d} 0x{address:x} expected {expected}, walker {t}");
        Assert.True(t.Read == ((expected & MemoryOperations.Read) != 0) && t.Write == ((expected & MemoryOperations.Write) != 0)
            && t.Execute == ((expected & MemoryOperations.Execute) != 0), $"{context}: {d} 0x{address:x} expected {expected}, walker {t}");
        Assert.True(t.Hpa == address, $"{context}: {d} 0x{address:x} translated to 0x{t.Hpa:x}");
        Assert.True(t.MemoryType == 6 && !t.IgnorePat, $"{context}: memory type {t.MemoryType}");
    }

    public void CheckDomain(DomainHandle d, Random random, int randomProbes, ulong probeLimit, string context)
    {
        MemoryPermission[] permissions = Permissions(d);
        foreach (MemoryPermission p in permissions)
        {
            CheckEptAddress(d, permissions, p.Start, context);
            CheckEptAddress(d, permissions, p.End, context);
            CheckEptAddress(d, permissions, p.End - 1, context);
            if (p.Start > 0)
            {
                CheckEptAddress(d, permissions, p.Start - 1, context);
            }
        }

        for (int i = 0; i < randomProbes; i++)
        {
            CheckEptAddress(d, permissions, (ulong)random.NextInt64((long)probeLimit), context);
        }
    }

    /// <summary>Walker(VT-d) for a device equals its owner's R/W (no execute), identity-mapped; unowned devices fault.</summary>
    public void CheckDevice(DeviceId device, Random random, int randomProbes, ulong probeLimit, string context)
    {
        bool owned = Engine.TryGetDeviceOwner(device, out DomainHandle owner) == CapabilityError.Ok && Engine.IsLive(owner);
        MemoryPermission[] permissions = owned ? Permissions(owner) : [];
        var probes = new List<ulong>();
        foreach (MemoryPermission p in permissions)
        {
            probes.Add(p.Start);
            probes.Add(p.End);
            probes.Add(p.End - 1);
        }

        for (int i = 0; i < randomProbes; i++)
        {
            probes.Add((ulong)random.NextInt64((long)probeLimit));
        }

        if (!Backend.TryGetRootTable(device.Segment, out ulong root))
        {
            Assert.False(owned && permissions.Length > 0, $"{context}: {device} owned by {owner} but no root table");
            return;
        }

        foreach (ulong a in probes)
        {
            Translation t = SpecVtdWalker.Walk(Read, root, device.Bus, device.DevFn, a, PhysicalAddressBits, out int did);
            MemoryOperations expected = owned ? ExpectedEpt(permissions, a) & (MemoryOperations.Read | MemoryOperations.Write) : MemoryOperations.None;
            if (expected == MemoryOperations.None)
            {
                Assert.True(t.Status == WalkStatus.NotPresent, $"{context}: {device} 0x{a:x} expected fault, walker {t}");
                continue;
            }

            DeviceTranslations++;
            Assert.True(t.Status == WalkStatus.Ok && t.Hpa == a && t.Read && t.Write == ((expected & MemoryOperations.Write) != 0) && !t.Execute,
                $"{context}: {device} 0x{a:x} expected {expected}, walker {t}");
            Assert.True(Backend.TryGetSecondLevelTable(owner, out _, out ushort expectedDid) && expectedDid == did && did != 0,
                $"{context}: {device} domain id {did}");
        }
    }

    /// <summary>Every allocated table frame is reachable from a live EPT, a second-level table, or a VT-d root/context table.</summary>
    public int CountReachableFrames(IEnumerable<DomainHandle> domains, IEnumerable<ushort> segments)
    {
        var seen = new HashSet<ulong>();
        ulong mask = ((1UL << PhysicalAddressBits) - 1) & ~0xFFFUL;
        void Tree(ulong table, int level, ulong presentMask)
        {
            Assert.True(seen.Add(table), $"table 0x{table:x} reachable twice");
            if (level == 1)
            {
                return;
            }

            for (ulong i = 0; i < 512; i++)
            {
                ulong e = Read(table + (i * 8));
                if ((e & presentMask) != 0 && (level == 4 || (e & 0x80) == 0))
                {
                    Tree(e & mask, level - 1, presentMask);
                }
            }
        }

        foreach (DomainHandle d in domains)
        {
            if (Backend.TryGetEptPointer(d, out ulong eptp))
            {
                Tree(eptp & mask, 4, 0x7);
            }

            if (Backend.TryGetSecondLevelTable(d, out ulong sl, out _))
            {
                Tree(sl, 4, 0x3);
            }
        }

        foreach (ushort s in segments)
        {
            if (Backend.TryGetRootTable(s, out ulong root))
            {
                Assert.True(seen.Add(root));
                for (ulong bus = 0; bus < 256; bus++)
                {
                    ulong e = Read(root + (bus * 16));
                    if ((e & 1) != 0)
                    {
                        Assert.True(seen.Add(e & mask));
                    }
                }
            }
        }

        return seen.Count;
    }

    /// <summary>Everything a caller can observe about the engine, as text (domains, capabilities, permissions, capacity, queue).</summary>
    public string EngineSnapshot()
    {
        var sb = new System.Text.StringBuilder();
        var domains = new DomainHandle[Engine.Capacities.Domains];
        int n = Engine.GetDomains(domains);
        foreach (DomainHandle d in domains.AsSpan(0, n))
        {
            sb.Append(d).Append(": ");
            int token = 0;
            while (Engine.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
            {
                sb.Append(index).Append('=').Append(info).Append(' ');
            }

            sb.Append("| ").Append(string.Join(" ", Array.ConvertAll(Permissions(d), p => p.ToString()))).Append('\n');
        }

        sb.Append(Engine.GetFreeCapacity()).Append(" pending ").Append(Engine.PendingUpdateCount);
        return sb.ToString();
    }
}
