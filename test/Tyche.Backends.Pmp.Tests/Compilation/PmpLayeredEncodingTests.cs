// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Pmp.Tests.Qemu;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>
/// Layered encodings: PMP matching is by priority (lowest-numbered matching entry wins, Privileged ISA §3.7.1), so a
/// higher-priority entry can carve other rights (or a deny hole) out of a larger one, and a NAPOT/NA4 entry's pmpaddr
/// can bound the TOR entry right after it. Each case is a hand-built layered image smaller than any non-overlapping
/// encoding; it is checked word by word with the spec walker (and on QEMU's hart next to the compiler's image), and
/// the compiler must need no more entries than it.
/// </summary>
public sealed class PmpLayeredEncodingTests(ITestOutputHelper output)
{
    private const int PhysicalAddressBits = 56;
    private const ulong A = QemuHarness.ArenaStart; // 4 MiB aligned
    private const ulong Page = 0x1000;

    private sealed record Case(string Name, MemoryPermission[] Ranges, (ulong Address, PmpConfigBits Config)[] Entries);

    private static ulong Napot(ulong start, ulong size) => PmpEncoding.EncodeNapot(start, size);

    private static readonly PmpConfigBits R = PmpConfigBits.Read;
    private static readonly PmpConfigBits RW = PmpConfigBits.Read | PmpConfigBits.Write;
    private static readonly PmpConfigBits RX = PmpConfigBits.Read | PmpConfigBits.Execute;
    private static readonly PmpConfigBits X = PmpConfigBits.Execute;

    private static MemoryPermission Stub => Ranges.P(QemuHarness.StubPage, QemuHarness.StubPage + Page, "RX");

    private static (ulong, PmpConfigBits) StubEntry => (Napot(QemuHarness.StubPage, Page), PmpConfigBits.AddressNapot | RX);

    private static List<Case> Cases() =>
    [
        // R over an aligned 16 KiB block with an RW page inside: NAPOT RW page above NAPOT R block.
        new("rw-page-in-r-block",
            [Stub, Ranges.P(A, A + Page, "R"), Ranges.P(A + Page, A + (2 * Page), "RW"), Ranges.P(A + (2 * Page), A + (4 * Page), "R")],
            [StubEntry, (Napot(A + Page, Page), PmpConfigBits.AddressNapot | RW), (Napot(A, 4 * Page), PmpConfigBits.AddressNapot | R)]),

        // R over 32 KiB except one page: a deny entry (no R/W/X) carves the hole out of a NAPOT R block.
        new("deny-hole-in-r-block",
            [Stub, Ranges.P(A, A + Page, "R"), Ranges.P(A + (2 * Page), A + (8 * Page), "R")],
            [StubEntry, (Napot(A + Page, Page), PmpConfigBits.AddressNapot), (Napot(A, 8 * Page), PmpConfigBits.AddressNapot | R)]),

        // R words [0x100, 0x170) and [0x180, 0x200): one NAPOT R block over both with a NAPOT deny entry over the gap.
        new("napot-over-gap-with-deny-hole",
            [Stub, Ranges.P(A + 0x100, A + 0x170, "R"), Ranges.P(A + 0x180, A + 0x200, "R")],
            [StubEntry, (Napot(A + 0x170, 0x10), PmpConfigBits.AddressNapot), (Napot(A + 0x100, 0x100), PmpConfigBits.AddressNapot | R)]),

        // X word followed by three R words: TOR takes its lower bound from the NA4 entry's pmpaddr (the X word), which shadows it.
        new("na4-as-tor-bound",
            [Stub, Ranges.P(A + 0x40, A + 0x44, "X"), Ranges.P(A + 0x44, A + 0x50, "R")],
            [StubEntry, ((A + 0x40) >> PmpEncoding.AddressShift, PmpConfigBits.AddressNa4 | X), ((A + 0x50) >> PmpEncoding.AddressShift, PmpConfigBits.AddressTor | R)]),

        // RX page followed by 12 KiB of R: the NAPOT entry's pmpaddr (inside its own block) is the TOR bound.
        new("napot-as-tor-bound",
            [Stub, Ranges.P(A, A + Page, "RX"), Ranges.P(A + Page, A + (4 * Page), "R")],
            [StubEntry, (Napot(A, Page), PmpConfigBits.AddressNapot | RX), ((A + (4 * Page)) >> PmpEncoding.AddressShift, PmpConfigBits.AddressTor | R)]),

        // RX page, R page, RW page, a gap of 1 MiB + 4 KiB (no power of two, unaligned), three R pages: one R TOR spans
        // everything (bounded by the RX NAPOT's pmpaddr), the RW NAPOT sits on it and a deny TOR bounded by the RW NAPOT's
        // pmpaddr paints the gap. 4 entries, where the two sides on their own need 3 + 2: no gap, however large, is a
        // point where the problem may be split.
        new("tor-across-a-large-gap",
            [Stub, Ranges.P(A, A + Page, "RX"), Ranges.P(A + Page, A + (2 * Page), "R"), Ranges.P(A + (2 * Page), A + (3 * Page), "RW"), Ranges.P(A + 0x10_4000, A + 0x10_7000, "R")],
            [StubEntry, (Napot(A + (2 * Page), Page), PmpConfigBits.AddressNapot | RW), ((A + 0x10_4000) >> PmpEncoding.AddressShift, PmpConfigBits.AddressTor),
                (Napot(A, Page), PmpConfigBits.AddressNapot | RX), ((A + 0x10_7000) >> PmpEncoding.AddressShift, PmpConfigBits.AddressTor | R)]),
    ];

    private static PmpImage Build(PmpCompiler compiler, Case c)
    {
        PmpImage image = compiler.CreateImage();
        for (int i = 0; i < c.Entries.Length; i++)
        {
            image.SetEntry(i, c.Entries[i].Address, c.Entries[i].Config);
        }

        return image;
    }

    [Fact]
    public void Compiler_needs_no_more_entries_than_each_hand_built_layered_encoding()
    {
        var compiler = new PmpCompiler(new PmpHartOptions { PhysicalAddressBits = PhysicalAddressBits });
        foreach (Case c in Cases())
        {
            PmpImage layered = Build(compiler, c);
            PmpImage compiled = compiler.CreateImage();
            PmpCompileResult r = compiler.Compile(c.Ranges, compiled);
            Assert.True(r.IsOk, $"{c.Name}: {r}");

            // Every word from one page below the arena start to one page past the last range, plus the stub page.
            ulong end = c.Ranges[^1].End + Page;
            int words = 0;
            for (ulong address = A - Page; address < end; address += PmpEncoding.WordSize)
            {
                Check(c, layered, compiled, address);
                words++;
            }

            for (ulong address = QemuHarness.StubPage; address < QemuHarness.StubPage + Page; address += PmpEncoding.WordSize)
            {
                Check(c, layered, compiled, address);
            }

            Assert.Equal(c.Entries.Length, layered.ActiveEntryCount);
            Assert.True(r.EntriesNeeded <= c.Entries.Length, $"{c.Name}: hand-built layered {c.Entries.Length}, compiler {r.EntriesNeeded}\n{compiled}");
            Assert.Equal(r.EntriesNeeded, compiled.ActiveEntryCount + OffBounds(compiled));
            output.WriteLine($"{c.Name}: hand-built layered encoding {c.Entries.Length} entries, compiler {r.EntriesNeeded}; {words} words walked.\n{compiled}");
        }
    }

    /// <summary>OFF entries that hold a TOR's lower bound (they count as used entries).</summary>
    private static int OffBounds(PmpImage image)
    {
        int n = 0;
        for (int i = 0; i + 1 < image.EntryCount; i++)
        {
            if (PmpEncoding.GetMatching(image.GetConfig(i)) == PmpAddressMatching.Off && PmpEncoding.GetMatching(image.GetConfig(i + 1)) == PmpAddressMatching.Tor)
            {
                n++;
            }
        }

        return n;
    }

    private static void Check(Case c, PmpImage layered, PmpImage compiled, ulong address)
    {
        foreach (AccessKind kind in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Execute })
        {
            bool expected = Ranges.Expected(c.Ranges, [], address, kind, PrivilegeMode.User);
            Assert.True(expected == PmpReferenceWalker.Allows(layered, PhysicalAddressBits, address, 4, kind, PrivilegeMode.User), $"{c.Name}: layered image, {kind} at 0x{address:x}\n{layered}");
            Assert.True(expected == PmpReferenceWalker.Allows(compiled, PhysicalAddressBits, address, 4, kind, PrivilegeMode.User), $"{c.Name}: compiled image, {kind} at 0x{address:x}\n{compiled}");
        }
    }

    [Fact]
    public void Layered_encodings_hold_on_the_qemu_hart()
    {
        if (!QemuHarness.TryGetTools(PmpXlen.Rv64, output, out string gcc, out string qemu))
        {
            return;
        }

        var compiler = new PmpCompiler(new PmpHartOptions { PhysicalAddressBits = PhysicalAddressBits });
        var layouts = new List<Layout>();
        var images = new List<PmpImage>();
        foreach (Case c in Cases())
        {
            layouts.Add(new Layout($"{c.Name} (layered)", c.Ranges));
            images.Add(Build(compiler, c));
            PmpImage compiled = compiler.CreateImage();
            Assert.True(compiler.Compile(c.Ranges, compiled).IsOk);
            layouts.Add(new Layout($"{c.Name} (compiled)", c.Ranges));
            images.Add(compiled);
        }

        var rng = new Random(20261122);
        LayoutChecker.Stats stats = LayoutChecker.Check(compiler, [], layouts, rng, qemu, QemuHarness.Build(gcc, PmpXlen.Rv64), output, probesPerLayout: 60, images: images);
        Assert.Equal(layouts.Count, stats.Layouts);
        Assert.True(stats.Allowed > 0 && stats.Faulted > 0);
        Assert.True(stats.CompareWithEngine > stats.Probes / 2);
    }
}
