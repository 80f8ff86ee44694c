// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Tyche.Backends.Pmp.Tests.Support;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>
/// Random domain layouts compiled by the library, programmed into QEMU's RISC-V hart by the bare-metal harness and
/// probed from U, S and M mode; every probe is compared with the engine's effective rights (and the spec walker).
/// Seed: env TYCHE_PMP_SEED, else time-based; always printed.
/// </summary>
public sealed class QemuPmpTests(ITestOutputHelper output)
{
    private static readonly PmpMonitorRegion[] LockedMonitor =
    [
        new(0x807c_0000, 0x807c_3000, PmpConfigBits.Read | PmpConfigBits.Execute), // locked TOR (OFF+L base, TOR+L)
        new(0x807e_0000, 0x807e_8000, PmpConfigBits.Read),                         // locked NAPOT read-only
        new(0x807f_0000, 0x8080_0000, PmpConfigBits.None),                         // locked NAPOT no access, M included
    ];

    private static readonly PmpMonitorRegion[] UnlockedMonitor =
    [
        new(0x8060_0000, 0x8064_0000, PmpConfigBits.None, Locked: false),          // S/U denied, M free
        new(0x8070_0000, 0x8070_0100, PmpConfigBits.Read | PmpConfigBits.Write),   // locked RW window
    ];

    private int Seed() => PmpSeed.Next(output);

    private void RunRandom(PmpXlen xlen, PmpMonitorRegion[] monitor, int layouts, int seedOffset)
    {
        if (!QemuHarness.TryGetTools(xlen, output, out string gcc, out string qemu))
        {
            return;
        }

        int seed = Seed() + seedOffset;
        var rng = new Random(seed);
        var options = new PmpHartOptions { Xlen = xlen, PhysicalAddressBits = xlen == PmpXlen.Rv64 ? 56 : 34 };
        var compiler = new PmpCompiler(options, monitor);
        var list = new List<Layout>();
        int refused = 0;
        while (list.Count < layouts)
        {
            Layout layout = LayoutChecker.RandomLayout(rng, $"layout {list.Count} (seed {seed})", xlen);
            PmpCompileResult measured = compiler.Measure(layout.Ranges);
            if (measured.Status == PmpStatus.TooManyEntries)
            {
                // Admission: refused with the counts; trim the layout until it fits and check that instead.
                Assert.True(measured.EntriesNeeded > measured.EntriesAvailable);
                refused++;
                int keep = layout.Ranges.Length - 1;
                while (compiler.Measure(layout.Ranges.AsSpan(0, keep)).Status == PmpStatus.TooManyEntries)
                {
                    keep--;
                }

                layout = layout with { Ranges = layout.Ranges[..keep] };
            }

            list.Add(layout);
        }

        string elf = QemuHarness.Build(gcc, xlen);
        LayoutChecker.Stats stats = LayoutChecker.Check(compiler, monitor, list, rng, qemu, elf, output);
        output.WriteLine($"{refused} layouts first refused as too large (needed > {compiler.DomainEntryCapacity}) and trimmed.");
        Assert.Equal(layouts, stats.Layouts);
        Assert.True(stats.CompareWithEngine > stats.Probes / 2);
        Assert.True(stats.Allowed > 0 && stats.Faulted > 0);
    }

    [Fact]
    public void Rv64_random_layouts_under_locked_monitor_entries_match_the_engine() => RunRandom(PmpXlen.Rv64, LockedMonitor, 70, 0);

    [Fact]
    public void Rv64_random_layouts_with_all_sixteen_entries_for_the_domain_match_the_engine() => RunRandom(PmpXlen.Rv64, [], 60, 1);

    [Fact]
    public void Rv64_random_layouts_under_an_unlocked_monitor_deny_entry_match_the_engine() => RunRandom(PmpXlen.Rv64, UnlockedMonitor, 40, 2);

    [Fact]
    public void Rv32_random_layouts_match_the_engine() => RunRandom(PmpXlen.Rv32, LockedMonitor, 40, 3);

    [Fact]
    public void Qemu_keeps_stray_high_pmpaddr_bits_so_the_library_must_mask()
    {
        if (!QemuHarness.TryGetTools(PmpXlen.Rv64, output, out string gcc, out string qemu))
        {
            return;
        }

        var compiler = new PmpCompiler(new PmpHartOptions());
        PmpImage image = compiler.CreateImage();
        Assert.True(compiler.Compile([Ranges.P(QemuHarness.StubPage, QemuHarness.StubPage + 0x1000, "RX"), Ranges.P(0x8040_0000, 0x8040_1000, "RW")], image).IsOk);
        Assert.Equal(0UL, image.GetAddress(1) >> 54);

        // The same region with bits 63:54 set, as an unmasked encoder would produce: QEMU 7.2 no longer matches it.
        PmpImage unmasked = compiler.CreateImage();
        image.CopyTo(unmasked);
        unmasked.SetEntry(1, image.GetAddress(1) | (0x3FFUL << 54), image.GetConfig(1));
        Probe read = new(0x8040_0000, AccessKind.Read, PrivilegeMode.User, 4);
        HarnessRun run = QemuHarness.Boot(qemu, QemuHarness.Build(gcc, PmpXlen.Rv64), [new HarnessTable(image, [read]), new HarnessTable(unmasked, [read])], 16);
        Assert.Equal(ulong.MaxValue, run.AddressReadback); // notes/hw-validation.md: pmpaddr is not masked to 54 bits by QEMU
        Assert.True(run.Probes[(0, 0)].Allowed);
        Assert.False(run.Probes[(1, 0)].Allowed);
        Assert.Equal(16, run.EntryCount);
        Assert.Equal(0, run.Granularity);
    }

    [Fact]
    public void Qemu_accepts_the_reserved_write_only_encoding_so_the_library_never_emits_it()
    {
        if (!QemuHarness.TryGetTools(PmpXlen.Rv64, output, out string gcc, out string qemu))
        {
            return;
        }

        // The compiler narrows W-without-R to nothing ...
        var compiler = new PmpCompiler(new PmpHartOptions());
        PmpImage image = compiler.CreateImage();
        Assert.True(compiler.Compile([Ranges.P(QemuHarness.StubPage, QemuHarness.StubPage + 0x1000, "RX"), Ranges.P(0x8040_0000, 0x8040_1000, "W")], image).IsOk);
        Assert.Equal(1, image.ActiveEntryCount);

        // ... because QEMU 7.2 takes the reserved R=0, W=1 byte as written and grants write-only (notes/hw-validation.md);
        // hardware may do anything, so only the library can keep it out.
        PmpImage reserved = compiler.CreateImage();
        image.CopyTo(reserved);
        reserved.SetEntry(1, PmpEncoding.EncodeNapot(0x8040_0000, 0x1000), PmpConfigBits.AddressNapot | PmpConfigBits.Write);
        Probe write = new(0x8040_0008, AccessKind.Write, PrivilegeMode.User, 8);
        Probe read = new(0x8040_0008, AccessKind.Read, PrivilegeMode.User, 8);
        HarnessRun run = QemuHarness.Boot(qemu, QemuHarness.Build(gcc, PmpXlen.Rv64), [new HarnessTable(image, [write, read]), new HarnessTable(reserved, [write, read])], 16);
        Assert.False(run.Probes[(0, 0)].Allowed);
        Assert.False(run.Probes[(0, 1)].Allowed);
        Assert.True(run.Probes[(1, 0)].Allowed);
        Assert.False(run.Probes[(1, 1)].Allowed);
        Assert.Equal((ulong)(PmpConfigBits.AddressNapot | PmpConfigBits.Write) << 8 | (ulong)image.GetConfig(0), run.Configs[(1, 0)]);
    }
}
