// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using static Tyche.Backends.Pmp.Tests.Support.Ranges;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>Encodings checked against values derived by hand from the Privileged ISA §3.7 formulas.</summary>
public sealed class PmpCompilerTests
{
    private const PmpConfigBits Napot = PmpConfigBits.AddressNapot;
    private const PmpConfigBits Tor = PmpConfigBits.AddressTor;
    private const PmpConfigBits Na4 = PmpConfigBits.AddressNa4;
    private const PmpConfigBits R = PmpConfigBits.Read;
    private const PmpConfigBits W = PmpConfigBits.Write;
    private const PmpConfigBits X = PmpConfigBits.Execute;
    private const PmpConfigBits L = PmpConfigBits.Locked;

    private static PmpCompiler Rv64(params PmpMonitorRegion[] monitor) => new(new PmpHartOptions(), monitor);

    private static PmpImage Compile(PmpCompiler compiler, out PmpCompileResult result, params MemoryPermission[] ranges)
    {
        PmpImage image = compiler.CreateImage();
        result = compiler.Compile(ranges, image);
        return image;
    }

    private static void AssertEntry(PmpImage image, int i, ulong address, PmpConfigBits config)
    {
        Assert.Equal(config, image.GetConfig(i));
        Assert.Equal(address, image.GetAddress(i));
    }

    private static void AssertOffFrom(PmpImage image, int first)
    {
        for (int i = first; i < image.EntryCount; i++)
        {
            Assert.Equal(PmpConfigBits.None, image.GetConfig(i));
        }
    }

    [Fact]
    public void A_page_aligned_to_its_size_is_one_napot_entry()
    {
        // (0x80000000 >> 2) | (0x1000/8 - 1) = 0x20000000 | 0x1ff
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0x8000_0000, 0x8000_1000, "RWX"));
        Assert.Equal(PmpStatus.Ok, r.Status);
        Assert.Equal(1, r.EntriesNeeded);
        AssertEntry(image, 0, 0x2000_01ff, Napot | R | W | X);
        Assert.Equal(0x1fUL, image.GetConfigRegister(0));
        AssertOffFrom(image, 1);
    }

    [Fact]
    public void Eight_bytes_is_napot_with_no_trailing_one_and_four_bytes_is_na4()
    {
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0x8000_0004, 0x8000_0008, "R"), P(0x8000_0010, 0x8000_0018, "RX"));
        Assert.Equal(2, r.EntriesNeeded);
        AssertEntry(image, 0, 0x2000_0001, Na4 | R);
        AssertEntry(image, 1, 0x2000_0004, Napot | R | X);
    }

    [Fact]
    public void A_range_that_is_not_a_power_of_two_is_an_off_bound_plus_tor()
    {
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0x8000_1000, 0x8000_4000, "RW"));
        Assert.Equal(2, r.EntriesNeeded);
        AssertEntry(image, 0, 0x2000_0400, PmpConfigBits.None);
        AssertEntry(image, 1, 0x2000_1000, Tor | R | W);
        AssertOffFrom(image, 2);
    }

    [Fact]
    public void Adjacent_ranges_share_tor_boundaries_and_a_napot_shaped_middle_stays_in_the_chain()
    {
        // Chain: OFF 0x1000, TOR 0x3000 R, TOR 0x4000 RW, TOR 0x7000 RX = 4 entries. Encoding the NAPOT-shaped middle
        // [0x3000, 0x4000) as NAPOT would cost 2 + 1 + 2 = 5.
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0x1000, 0x3000, "R"), P(0x3000, 0x4000, "RW"), P(0x4000, 0x7000, "RX"));
        Assert.Equal(4, r.EntriesNeeded);
        AssertEntry(image, 0, 0x400, PmpConfigBits.None);
        AssertEntry(image, 1, 0xc00, Tor | R);
        AssertEntry(image, 2, 0x1000, Tor | R | W);
        AssertEntry(image, 3, 0x1c00, Tor | R | X);
        AssertOffFrom(image, 4);
    }

    [Fact]
    public void Tor_at_entry_zero_uses_address_zero_as_its_bound()
    {
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0, 0x3000, "RW"));
        Assert.Equal(1, r.EntriesNeeded);
        AssertEntry(image, 0, 0xc00, Tor | R | W);
    }

    [Fact]
    public void Monitor_entries_are_locked_on_top_and_a_domain_tor_may_start_at_their_last_address()
    {
        // Monitor [0x80000000, 0x80030000) R locked: OFF+L base 0x20000000, TOR+L top 0x2000c000.
        // The domain range starting at 0x80030000 needs only its TOR entry: pmpaddr1 << 2 is its bound.
        PmpCompiler compiler = Rv64(new PmpMonitorRegion(0x8000_0000, 0x8003_0000, R));
        Assert.Equal(2, compiler.MonitorEntryCount);
        Assert.Equal(14, compiler.DomainEntryCapacity);
        PmpImage image = Compile(compiler, out PmpCompileResult r, P(0x8003_0000, 0x8003_5000, "RW"));
        Assert.Equal(1, r.EntriesNeeded);
        AssertEntry(image, 0, 0x2000_0000, L);
        AssertEntry(image, 1, 0x2000_c000, L | Tor | R);
        AssertEntry(image, 2, 0x2000_d400, Tor | R | W);
        AssertOffFrom(image, 3);
    }

    [Fact]
    public void Locked_napot_monitor_entry_precedes_domain_entries_even_when_they_overlap()
    {
        // Monitor 64 KiB at 0x807f0000, no rights, locked: 0x201fc000 | 0x1fff = 0x201fdfff, cfg 0x98.
        PmpCompiler compiler = Rv64(new PmpMonitorRegion(0x807f_0000, 0x8080_0000, PmpConfigBits.None));
        PmpImage image = Compile(compiler, out PmpCompileResult r, P(0x8000_0000, 0x8100_0000, "RWX"));
        Assert.True(r.IsOk);
        AssertEntry(image, 0, 0x201f_dfff, L | Napot);
        AssertEntry(image, 1, 0x201f_ffff, Napot | R | W | X); // 16 MiB: 0x20000000 | (0x1000000/8 - 1)
        Assert.False(PmpReferenceWalker.Allows(image, 56, 0x807f_0000, 4, AccessKind.Read, PrivilegeMode.Supervisor));
        Assert.False(PmpReferenceWalker.Allows(image, 56, 0x807f_0000, 4, AccessKind.Read, PrivilegeMode.Machine));
        Assert.True(PmpReferenceWalker.Allows(image, 56, 0x807e_fffc, 4, AccessKind.Write, PrivilegeMode.User));
    }

    [Fact]
    public void Adjacent_ranges_with_equal_rights_merge_and_supervisor_right_is_ignored()
    {
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0x8000_0000, 0x8000_1000, "RWS"), P(0x8000_1000, 0x8000_2000, "RW"));
        Assert.Equal(1, r.EntriesNeeded);
        AssertEntry(image, 0, 0x2000_03ff, Napot | R | W);
    }

    [Fact]
    public void Write_without_read_is_narrowed_never_encoded()
    {
        // W alone grants nothing; W+X becomes X. The reserved R=0, W=1 combination never appears.
        PmpImage image = Compile(Rv64(), out PmpCompileResult r, P(0x1000, 0x2000, "W"), P(0x4000, 0x5000, "WX"));
        Assert.Equal(1, r.EntriesNeeded);
        AssertEntry(image, 0, 0x11ff, Napot | X);
        for (int i = 0; i < image.EntryCount; i++)
        {
            Assert.False(PmpEncoding.IsReservedPermission(image.GetConfig(i)));
        }
    }

    [Fact]
    public void Pmpaddr_is_masked_to_the_implemented_width()
    {
        // The whole 2^56 space: 53 trailing ones, not all-ones (QEMU would keep bits 63:54 and decode another size).
        PmpImage image = Compile(Rv64(), out _, P(0, 1UL << 56, "RWX"));
        AssertEntry(image, 0, (1UL << 53) - 1, Napot | R | W | X);

        var rv32 = new PmpCompiler(new PmpHartOptions { Xlen = PmpXlen.Rv32, PhysicalAddressBits = 34 });
        PmpImage image32 = Compile(rv32, out _, P(0, 1UL << 34, "RWX"));
        AssertEntry(image32, 0, 0x7fff_ffff, Napot | R | W | X);

        var narrow = new PmpCompiler(new PmpHartOptions { PhysicalAddressBits = 40 });
        PmpImage image40 = Compile(narrow, out _, P(0xff_ffff_0000, 0xff_ffff_1000, "R"));
        Assert.Equal(0UL, image40.GetAddress(0) >> 38);
        Assert.Equal(PmpStatus.AddressOutOfRange, narrow.Measure([P(0xff_ffff_0000, 0x100_0000_1000, "R")]).Status);
    }

    [Fact]
    public void A_non_napot_range_ending_at_the_top_of_the_address_space_is_refused()
    {
        PmpCompiler compiler = Rv64();
        PmpImage image = compiler.CreateImage();
        PmpImage before = compiler.CreateImage();
        PmpCompileResult r = compiler.Compile([P((1UL << 56) - 0x3000, 1UL << 56, "R")], image);
        Assert.Equal(PmpStatus.AddressOutOfRange, r.Status);
        Assert.True(image.ContentEquals(before));
    }

    [Fact]
    public void Too_many_entries_is_refused_with_needed_and_available_and_changes_nothing()
    {
        PmpCompiler compiler = Rv64(new PmpMonitorRegion(0x9000_0000, 0x9001_0000, PmpConfigBits.None));
        var ranges = new MemoryPermission[16];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = P(0x8000_0000 + ((ulong)i * 0x2000), 0x8000_1000 + ((ulong)i * 0x2000), "R");
        }

        PmpImage image = compiler.CreateImage();
        Assert.True(compiler.Compile(ranges.AsSpan(0, 3), image).IsOk);
        PmpImage snapshot = compiler.CreateImage();
        image.CopyTo(snapshot);

        PmpCompileResult r = compiler.Compile(ranges, image);
        Assert.Equal(PmpStatus.TooManyEntries, r.Status);
        Assert.Equal(16, r.EntriesNeeded);
        Assert.Equal(15, r.EntriesAvailable);
        Assert.Equal("The domain needs 16 PMP entries but the hart has 15 for domains.", r.ToString());
        Assert.True(image.ContentEquals(snapshot));
        Assert.True(compiler.Compile(ranges.AsSpan(0, 15), image).IsOk);
    }

    [Fact]
    public void Needed_count_is_exact_even_for_more_ranges_than_entries_exist()
    {
        var ranges = new MemoryPermission[100];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = P(0x1000 + ((ulong)i * 0x10000), 0x4000 + ((ulong)i * 0x10000), "RW"); // 0x3000 bytes: OFF + TOR each
        }

        PmpCompileResult r = Rv64().Measure(ranges);
        Assert.Equal(PmpStatus.TooManyEntries, r.Status);
        Assert.Equal(200, r.EntriesNeeded);
        Assert.Equal(16, r.EntriesAvailable);
    }

    [Fact]
    public void Granularity_is_respected()
    {
        var g1 = new PmpCompiler(new PmpHartOptions { Granularity = 1 });
        Assert.Equal(PmpStatus.Misaligned, g1.Measure([P(0x1004, 0x1008, "R")]).Status);
        PmpImage image = Compile(g1, out PmpCompileResult r, P(0x1008, 0x1010, "R"));
        Assert.Equal(1, r.EntriesNeeded);
        AssertEntry(image, 0, 0x402, Napot | R); // 8 bytes at 0x1008: NAPOT, since NA4 does not exist at G = 1

        var g10 = new PmpCompiler(new PmpHartOptions { Granularity = 10 }); // 4 KiB grain
        PmpCompileResult bad = g10.Measure([P(0x1000, 0x1800, "R")]);
        Assert.Equal(PmpStatus.Misaligned, bad.Status);
        Assert.Equal(0x1000UL, bad.Start);
        Assert.Equal(0x1800UL, bad.End);
        PmpImage page = Compile(g10, out _, P(0x1000, 0x2000, "R"));
        AssertEntry(page, 0, 0x5ff, Napot | R); // bits G-2:0 are ones, matching what a G = 10 hart reads back
    }

    [Fact]
    public void Unsorted_or_overlapping_ranges_are_refused_unchanged()
    {
        PmpCompiler compiler = Rv64();
        PmpImage image = compiler.CreateImage();
        Assert.Equal(PmpStatus.InvalidRanges, compiler.Compile([P(0x2000, 0x3000, "R"), P(0x1000, 0x2000, "R")], image).Status);
        Assert.Equal(PmpStatus.InvalidRanges, compiler.Compile([P(0x2000, 0x3000, "R"), P(0x2800, 0x4000, "R")], image).Status);
        Assert.Equal(PmpStatus.InvalidRanges, compiler.Compile([P(0x2000, 0x2000, "R")], image).Status);
        Assert.True(image.ContentEquals(compiler.CreateImage()));
    }

    [Fact]
    public void Rv32_packs_four_entries_per_pmpcfg_and_rv64_eight_in_even_registers()
    {
        var ranges = new MemoryPermission[9];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = P(0x8000_0000 + ((ulong)i * 0x2000), 0x8000_1000 + ((ulong)i * 0x2000), "R");
        }

        var rv32 = new PmpCompiler(new PmpHartOptions { Xlen = PmpXlen.Rv32, PhysicalAddressBits = 34 });
        PmpImage image32 = Compile(rv32, out _, ranges);
        Assert.Equal(4, image32.ConfigRegisterCount);
        Assert.Equal(0x1919_1919UL, image32.GetConfigRegister(0));
        Assert.Equal(0x1919_1919UL, image32.GetConfigRegister(1));
        Assert.Equal(0x19UL, image32.GetConfigRegister(2));
        Assert.Equal((ushort)0x3A2, image32.GetConfigRegisterCsr(2));

        PmpImage image64 = Compile(Rv64(), out _, ranges);
        Assert.Equal(2, image64.ConfigRegisterCount);
        Assert.Equal(0x1919_1919_1919_1919UL, image64.GetConfigRegister(0));
        Assert.Equal(0x19UL, image64.GetConfigRegister(1));
        Assert.Equal((ushort)0x3A2, image64.GetConfigRegisterCsr(1));
        Assert.Equal((ushort)0x3A2, PmpEncoding.ConfigCsr(PmpXlen.Rv64, 8));
        Assert.Equal((ushort)0x3AE, PmpEncoding.ConfigCsr(PmpXlen.Rv64, 63));
        Assert.Equal((ushort)0x3AF, PmpEncoding.ConfigCsr(PmpXlen.Rv32, 63));
        Assert.Equal((ushort)0x3EF, PmpEncoding.AddressCsr(63));
    }

    [Fact]
    public void Sixty_four_entries_are_supported()
    {
        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64 });
        var ranges = new MemoryPermission[64];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = P(0x8000_0000 + ((ulong)i * 0x2000), 0x8000_1000 + ((ulong)i * 0x2000), "RX");
        }

        PmpImage image = Compile(compiler, out PmpCompileResult r, ranges);
        Assert.Equal(64, r.EntriesNeeded);
        Assert.Equal(8, image.ConfigRegisterCount);
        Assert.Equal(PmpStatus.TooManyEntries, new PmpCompiler(new PmpHartOptions { EntryCount = 63 }).Measure(ranges).Status);
    }

    [Fact]
    public void Invalid_options_and_monitor_regions_are_refused_with_a_reason()
    {
        Assert.False(new PmpHartOptions { EntryCount = 65 }.TryValidate(out string? e1));
        Assert.Contains("EntryCount 65", e1, StringComparison.Ordinal);
        Assert.False(new PmpHartOptions { Xlen = PmpXlen.Rv32 }.TryValidate(out string? e2)); // 56 bits on RV32
        Assert.Contains("PhysicalAddressBits 56", e2, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new PmpCompiler(new PmpHartOptions(), [new PmpMonitorRegion(0x1000, 0x2000, PmpConfigBits.Write)]));
        Assert.Throws<ArgumentException>(() => new PmpCompiler(new PmpHartOptions { Granularity = 10 }, [new PmpMonitorRegion(0x1000, 0x1800, PmpConfigBits.None)]));
        var all = new PmpMonitorRegion[16];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = new PmpMonitorRegion((ulong)i * 0x2000, ((ulong)i * 0x2000) + 0x1000, PmpConfigBits.None);
        }

        ArgumentException ex = Assert.Throws<ArgumentException>(() => new PmpCompiler(new PmpHartOptions(), all));
        Assert.Contains("need 16 PMP entries; the hart has 16", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compiling_allocates_nothing()
    {
        PmpCompiler compiler = Rv64(new PmpMonitorRegion(0x807f_0000, 0x8080_0000, PmpConfigBits.None));
        var ranges = new MemoryPermission[12];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = P(0x8000_0000 + ((ulong)i * 0x3000), 0x8000_2000 + ((ulong)i * 0x3000), i % 2 == 0 ? "RW" : "RX");
        }

        PmpImage image = compiler.CreateImage();
        PmpImage previous = compiler.CreateImage();
        Span<PmpCsrWrite> writes = stackalloc PmpCsrWrite[compiler.MaxSwitchWrites];
        compiler.Compile(ranges, image, previous);
        // The smallest of up to five identical batches must be exactly 0: an allocating path allocates in every batch,
        // while a tier-1/OSR promotion on a loaded machine can charge a few KB to one batch (dotnet/BenchmarkDotNet#1542).
        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < 5 && allocated != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                compiler.Compile(ranges, image, previous);
                compiler.Measure(ranges);
                compiler.GetSwitchWrites(previous, image, writes, out _, out _);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, allocated);
    }
}
