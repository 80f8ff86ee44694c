// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.IO;
using System.Text;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.Ept;

/// <summary>
/// The exact entry values of a few layouts, compared with checked-in text under <c>test/data/ept/</c>. Regenerate only on purpose:
/// <c>TYCHE_REGENERATE_GOLDEN=1 dotnet test --filter GoldenTableTests</c>, then review the diff.
/// </summary>
public sealed class GoldenTableTests
{
    private const ulong KiB4 = 0x1000;
    private const ulong MiB2 = 0x20_0000;
    private const ulong GiB1 = 0x4000_0000;
    private static readonly string[] LevelNames = ["", "PT", "PD", "PDPT", "PML4"];

    [Fact]
    public void Identity64GiBWith1GiBPages()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(64 * GiB1, out _);
        Compare("identity-64g", DumpDomain(rig, d0));
    }

    [Fact]
    public void MixedPageSizesRightsAndMemoryTypes()
    {
        var rig = new Rig(options: new VtxBackendOptions { UncacheableRanges = [new UncacheableRange(0x3FE0_0000, 0x4000_0000)] });
        DomainHandle d0 = rig.Boot(GiB1 + MiB2 + (2 * KiB4), out LocalCapability r0, rootStart: KiB4);
        Rig.Ok(rig.Monitor.TryCarve(d0, r0, new AccessRights(MiB2 + KiB4, MiB2 + (3 * KiB4), MemoryOperations.Read), out _));
        Rig.Ok(rig.Monitor.TryCarve(d0, r0, new AccessRights(4 * MiB2, 6 * MiB2, MemoryOperations.Read | MemoryOperations.Execute), out _));
        Compare("mixed", DumpDomain(rig, d0));
    }

    [Fact]
    public void RemappedAndRepeatedSegments()
    {
        var rig = new Rig();
        var view = new FakeView();
        var d1 = new DomainHandle(1, 0);
        view.Domains[d1] = [new MemoryPermission(0x1000_0000, 0x1000_4000, MemoryOperations.Read | MemoryOperations.Write),
            new MemoryPermission(0x2000_0000, 0x2020_0000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute)];
        view.Apply(rig.Backend, FakeView.Create(d1));
        Assert.True(rig.Backend.TryGetRemapper(d1, out GpaRemapper? remapper));
        Assert.Equal(CapabilityError.Ok, remapper.TryMapRange(0x1000_0000, 0x8000_0000, 0x4000, 2));
        view.Apply(rig.Backend, FakeView.Permission(d1, 0));
        Compare("remapped", DumpDomain(rig, d1));
    }

    [Fact]
    public void VtdRootContextAndSecondLevelTables()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(2 * MiB2, out LocalCapability r0);
        var (d1, m1) = rig.Child(d0);
        Rig.Ok(rig.Monitor.TryShare(d0, r0, new AccessRights(MiB2, MiB2 + (4 * KiB4), MemoryOperations.Read), m1, out _, out _));
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, new DeviceId(0, 0, 2, 0), out _));
        Rig.Ok(rig.Monitor.TryCreateRootDevice(d0, new DeviceId(0, 3, 0, 1), out LocalCapability nic));
        Rig.Ok(rig.Monitor.TrySend(d0, nic, m1, out _));
        var sb = new StringBuilder();
        Assert.True(rig.Backend.TryGetRootTable(0, out ulong root));
        sb.Append(CultureInfo.InvariantCulture, $"root table 0x{root:x}\n");
        for (ulong bus = 0; bus < 256; bus++)
        {
            ulong low = rig.Read(root + (bus * 16));
            if (low == 0)
            {
                continue;
            }

            sb.Append(CultureInfo.InvariantCulture, $"root[{bus:x2}] = 0x{low:x16} 0x{rig.Read(root + (bus * 16) + 8):x16}\n");
            ulong context = low & ~0xFFFUL;
            for (ulong devfn = 0; devfn < 256; devfn++)
            {
                ulong cl = rig.Read(context + (devfn * 16));
                ulong ch = rig.Read(context + (devfn * 16) + 8);
                if (cl != 0 || ch != 0)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"  context[{bus:x2}:{devfn >> 3:x2}.{devfn & 7:x}] = 0x{cl:x16} 0x{ch:x16}\n");
                }
            }
        }

        foreach (DomainHandle d in new[] { d0, d1 })
        {
            Assert.True(rig.Backend.TryGetSecondLevelTable(d, out ulong sl, out ushort did));
            sb.Append(CultureInfo.InvariantCulture, $"second level of {d}, domain id {did}\n");
            DumpTree(rig, sl, 4, 0x3, sb, "  ");
        }

        Compare("vtd", sb.ToString());
    }

    private static string DumpDomain(Rig rig, DomainHandle d)
    {
        Assert.True(rig.Backend.TryGetEptPointer(d, out ulong eptp));
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"eptp 0x{eptp:x16}\n");
        DumpTree(rig, eptp & ~0xFFFUL, 4, 0x7, sb, string.Empty);
        return sb.ToString();
    }

    private static void DumpTree(Rig rig, ulong table, int level, ulong presentMask, StringBuilder sb, string indent)
    {
        for (ulong i = 0; i < 512; i++)
        {
            ulong e = rig.Read(table + (i * 8));
            if (e == 0)
            {
                continue;
            }

            bool leaf = level == 1 || (level < 4 && (e & 0x80) != 0);
            sb.Append(CultureInfo.InvariantCulture, $"{indent}{LevelNames[level]}[{i:d3}] = 0x{e:x16}{(leaf ? " leaf" : string.Empty)}\n");
            if (!leaf && (e & presentMask) != 0)
            {
                DumpTree(rig, e & 0x000F_FFFF_FFFF_F000, level - 1, presentMask, sb, indent + "  ");
            }
        }
    }

    private static void Compare(string name, string actual)
    {
        string path = Path.Combine(DataDirectory(), name + ".txt");
        if (Environment.GetEnvironmentVariable("TYCHE_REGENERATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.True(File.Exists(path), $"missing golden file {path}; run with TYCHE_REGENERATE_GOLDEN=1 once and review it");
        Assert.Equal(File.ReadAllText(path), actual);
    }

    private static string DataDirectory()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "test", "data", "ept");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("test/data/ept not found above " + AppContext.BaseDirectory);
    }
}
