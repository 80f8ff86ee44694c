// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>A domain layout to check on the hart.</summary>
internal sealed record Layout(string Name, MemoryPermission[] Ranges);

/// <summary>Compiles layouts, generates probes, boots the harness once for all of them and compares every probe.</summary>
internal static class LayoutChecker
{
    // mcause values, Privileged ISA §3.1.15
    private const int InstructionAccessFault = 1;
    private const int LoadAccessFault = 5;
    private const int StoreAccessFault = 7;

    public sealed record Stats(int Layouts, int Probes, int CompareWithEngine, int StraddlingVsWalker, int Allowed, int Faulted, int Layered = 0);

    /// <summary>Random layouts inside the probe arena, always including the stub page the harness executes from.</summary>
    public static Layout RandomLayout(Random rng, string name, PmpXlen xlen)
    {
        var ranges = new List<MemoryPermission>();
        string[] stubRights = ["RX", "X", "RWX", "RXS"];
        ranges.Add(Ranges.P(QemuHarness.StubPage, QemuHarness.StubPage + 0x1000, stubRights[rng.Next(stubRights.Length)]));
        string[] rights = ["R", "RW", "RX", "RWX", "X", "RS", "RWXS", "R", "RW", "W", "WX", "-", "S"];
        ulong cursor = QemuHarness.ArenaStart + ((ulong)rng.Next(0, 0x4000) * 4);
        int k = rng.Next(1, 14);
        for (int j = 0; j < k; j++)
        {
            int gapKind = rng.Next(4);
            cursor += gapKind switch
            {
                0 or 1 => 0,                                   // adjacent: TOR chains
                2 => (ulong)rng.Next(1, 16) * 4,               // a few words
                _ => (ulong)rng.Next(1, 0x4000) * 4,           // far
            };
            ulong size;
            int shape = rng.Next(10);
            if (shape < 4)
            {
                size = 1UL << rng.Next(2, 18);                 // NAPOT/NA4 when aligned
                if (rng.Next(3) > 0)
                {
                    cursor = (cursor + size - 1) & ~(size - 1);
                }
            }
            else if (shape < 6)
            {
                size = (ulong)rng.Next(1, 4) * 4;              // 4, 8, 12 bytes
            }
            else
            {
                size = (ulong)rng.Next(1, 0x2000) * 4;         // arbitrary
            }

            if (cursor + size > QemuHarness.ArenaEnd)
            {
                break;
            }

            ranges.Add(Ranges.P(cursor, cursor + size, rights[rng.Next(rights.Length)]));
            cursor += size;
        }

        return new Layout(name, [.. ranges.OrderBy(r => r.Start)]);
    }

    /// <summary>Boundary probes around every range and monitor region plus random ones, all inside the arena.</summary>
    public static List<Probe> Probes(Random rng, Layout layout, IReadOnlyList<PmpMonitorRegion> monitor, PmpXlen xlen, int count)
    {
        var points = new List<ulong>();
        foreach (MemoryPermission r in layout.Ranges)
        {
            points.AddRange([r.Start - 4, r.Start, r.End - 4, r.End]);
        }

        foreach (PmpMonitorRegion m in monitor)
        {
            points.AddRange([m.Start - 4, m.Start, m.End - 4, m.End]);
        }

        points = [.. points.Where(p => p >= QemuHarness.ArenaStart && p <= QemuHarness.ArenaEnd - 8).Distinct().OrderBy(_ => rng.Next())];
        var probes = new List<Probe>();
        foreach (ulong p in points.Take(count * 3 / 4))
        {
            probes.Add(MakeProbe(rng, p, xlen));
        }

        while (probes.Count < count)
        {
            // Random words, half of them inside some range.
            ulong addr;
            if (rng.Next(2) == 0 && layout.Ranges.Length > 1)
            {
                MemoryPermission r = layout.Ranges[rng.Next(1, layout.Ranges.Length)];
                addr = r.Start + ((ulong)rng.NextInt64(0, (long)((r.End - r.Start) / 4)) * 4);
            }
            else
            {
                addr = QemuHarness.ArenaStart + ((ulong)rng.NextInt64(0, (long)((QemuHarness.ArenaEnd - QemuHarness.ArenaStart) / 4) - 2) * 4);
            }

            if (addr >= QemuHarness.ArenaStart && addr + 8 <= QemuHarness.ArenaEnd)
            {
                probes.Add(MakeProbe(rng, addr, xlen));
            }
        }

        return probes;
    }

    private static Probe MakeProbe(Random rng, ulong address, PmpXlen xlen)
    {
        var kind = (AccessKind)"RWX"[rng.Next(3)];
        PrivilegeMode mode = rng.Next(10) switch { < 4 => PrivilegeMode.User, < 8 => PrivilegeMode.Supervisor, _ => PrivilegeMode.Machine };
        int size = 4;
        if (kind != AccessKind.Execute)
        {
            int[] sizes = xlen == PmpXlen.Rv64 && address % 8 == 0 ? [1, 2, 4, 8, 8] : [1, 2, 4];
            size = sizes[rng.Next(sizes.Length)];
            if (size < 4 && rng.Next(2) == 0)
            {
                address += (ulong)(size * rng.Next(4 / size)); // an unaligned-within-word but naturally aligned access
            }
        }

        return new Probe(address, kind, mode, size);
    }

    /// <summary>Compiles, boots once, and asserts every probe and every read-back CSR.</summary>
    public static Stats Check(PmpCompiler compiler, IReadOnlyList<PmpMonitorRegion> monitor, IReadOnlyList<Layout> layouts, Random rng, string qemu, string elf, ITestOutputHelper output, int probesPerLayout = 40, IReadOnlyList<PmpImage>? images = null)
    {
        PmpHartOptions options = compiler.Options;
        var tables = new List<HarnessTable>();
        int layered = 0;
        for (int li = 0; li < layouts.Count; li++)
        {
            Layout layout = layouts[li];
            PmpImage image = compiler.CreateImage();
            if (images is not null)
            {
                image = images[li]; // e.g. a backend's image or a hart shadow built from its CSR writes
            }
            else
            {
                PmpCompileResult r = compiler.Compile(layout.Ranges, image);
                Assert.True(r.IsOk, $"{layout.Name}: {r}");
                layered += compiler.LastPlanIsLayered ? 1 : 0;
            }

            tables.Add(new HarnessTable(image, Probes(rng, layout, monitor, options.Xlen, probesPerLayout)));
        }

        HarnessRun run = QemuHarness.Boot(qemu, elf, tables, compiler.EntryCount);
        Assert.Equal(compiler.EntryCount, run.EntryCount);
        int compared = 0, straddling = 0, allowed = 0, faulted = 0, probes = 0;
        for (int t = 0; t < tables.Count; t++)
        {
            HarnessTable table = tables[t];
            Layout layout = layouts[t];

            // Read-back: QEMU holds exactly the values written (they are masked, and locked entries were written identically).
            for (int i = 0; i < compiler.EntryCount; i++)
            {
                Assert.True(run.Addresses[(t, i)] == table.Image.GetAddress(i), $"{layout.Name}: pmpaddr{i} reads 0x{run.Addresses[(t, i)]:x}, image 0x{table.Image.GetAddress(i):x}\n{table.Image}");
            }

            for (int reg = 0; reg < table.Image.ConfigRegisterCount; reg++)
            {
                Assert.True(run.Configs[(t, reg)] == table.Image.GetConfigRegister(reg), $"{layout.Name}: pmpcfg register {reg} reads 0x{run.Configs[(t, reg)]:x}, image 0x{table.Image.GetConfigRegister(reg):x}");
            }

            for (int i = 0; i < table.Probes.Count; i++)
            {
                Probe p = table.Probes[i];
                ProbeResult got = run.Probes[(t, i)];
                probes++;
                string where = $"{layout.Name} probe {i}: {p.Mode} {p.Kind} size {p.Size} at 0x{p.Address:x}; ranges [{string.Join(", ", layout.Ranges)}]\n{table.Image}";
                bool walker = PmpReferenceWalker.Allows(table.Image, options.PhysicalAddressBits, p.Address, p.Size, p.Kind, p.Mode);
                Assert.True(walker == got.Allowed, $"QEMU {(got.Allowed ? "ALLOW" : "FAULT")} but the spec walker says {(walker ? "ALLOW" : "FAULT")}: {where}");
                if (Ranges.Straddles(layout.Ranges, monitor, p.Address, p.Size))
                {
                    straddling++;
                }
                else
                {
                    bool expected = Ranges.Expected(layout.Ranges, monitor, p.Address, p.Kind, p.Mode);
                    Assert.True(expected == got.Allowed, $"QEMU {(got.Allowed ? "ALLOW" : "FAULT")} but the engine's rights say {(expected ? "ALLOW" : "FAULT")}: {where}");
                    compared++;
                }

                if (got.Allowed)
                {
                    allowed++;
                }
                else
                {
                    faulted++;
                    int cause = p.Kind switch { AccessKind.Read => LoadAccessFault, AccessKind.Write => StoreAccessFault, _ => InstructionAccessFault };
                    Assert.True(cause == got.Cause, $"mcause {got.Cause}, expected {cause}: {where}");
                    Assert.True(p.Address == got.Tval, $"mtval 0x{got.Tval:x}: {where}");
                }
            }
        }

        var stats = new Stats(layouts.Count, probes, compared, straddling, allowed, faulted, layered);
        output.WriteLine($"{layouts.Count} layouts ({layered} compiled to layered plans), {probes} probes: {compared} compared with the engine's rights and the walker, {straddling} straddling ones with the walker only; {allowed} ALLOW, {faulted} FAULT.");
        return stats;
    }
}
