// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Tyche.Backends.Pmp.Tests.Support;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>
/// The C# side of the harness protocol without QEMU: lost UART output must fail loudly instead of splicing lines into
/// values that still parse, and a blob that would reach into the probe arena must be refused before any boot.
/// </summary>
public sealed class HarnessProtocolTests
{
    private static string Report(int probes)
    {
        var sb = new StringBuilder();
        sb.Append("HARNESS 64\nNPMP 16 G 0 ADDRMAX 0xffffffffffffffff\nTABLE 0\n");
        for (int i = 0; i < probes; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"P 0 {i} FAULT 5 0x{0x8040_0000UL + ((ulong)i * 4):x16}\n");
        }

        int printed = sb.Length;
        sb.Append(CultureInfo.InvariantCulture, $"DONE {printed}\n");
        return sb.ToString();
    }

    [Fact]
    public void A_complete_report_parses_with_matching_byte_counts()
    {
        string text = Report(20);
        HarnessRun run = QemuHarness.Parse(text);
        Assert.True(run.Done);
        Assert.Equal(run.PrintedBytes, run.ReceivedBytes);
        Assert.Equal(text.LastIndexOf("DONE", StringComparison.Ordinal), run.ReceivedBytes);
        Assert.Equal(20, run.Probes.Count);
        Assert.Equal(new ProbeResult(false, 5, 0x8040_0000UL + (19 * 4)), run.Probes[(0, 19)]);
    }

    [Fact]
    public void A_report_with_a_lost_stretch_is_rejected_even_when_every_line_still_parses()
    {
        // What QEMU's 16550 did behind a full stdout pipe: bytes vanished mid-line, so "P 0 3 FAULT 5 0" ran into the
        // tail of a later probe's mtval and the result parsed as a plausible, wrong mtval.
        string text = Report(20);
        int cut = text.IndexOf("P 0 3 FAULT 5 0", StringComparison.Ordinal) + "P 0 3 FAULT 5 0".Length;
        int resume = text.IndexOf("P 0 9 FAULT 5 0x", StringComparison.Ordinal) + "P 0 9 FAULT 5 0x".Length;
        string lossy = text[..cut] + text[resume..];
        var e = Assert.Throws<InvalidOperationException>(() => QemuHarness.Parse(lossy));
        Assert.Contains("incomplete", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_report_without_its_byte_count_is_not_done()
    {
        HarnessRun run = QemuHarness.Parse("HARNESS 64\nNPMP 16 G 0 ADDRMAX 0xffffffffffffffff\nDONE\n");
        Assert.False(run.Done);
        HarnessRun cut = QemuHarness.Parse("HARNESS 64\nNPMP 16 G 0 ADDRMAX 0xffffffffffffffff\nTABLE 0\n");
        Assert.False(cut.Done);
    }

    [Fact]
    public void A_blob_that_would_reach_the_probe_arena_is_refused()
    {
        var compiler = new PmpCompiler(new PmpHartOptions { Xlen = PmpXlen.Rv64, PhysicalAddressBits = 56 });
        PmpImage image = compiler.CreateImage();
        var probe = new Probe(QemuHarness.ArenaStart, AccessKind.Read, PrivilegeMode.User, 4);

        // Header 32 bytes; per table 16 + 16 x 16 entry bytes + 16 per probe.
        int perTable = 16 + (compiler.EntryCount * 16) + 16;
        int fits = (int)((QemuHarness.MaxBlobBytes - 32) / (ulong)perTable);
        var tables = new List<HarnessTable>();
        for (int i = 0; i < fits; i++)
        {
            tables.Add(new HarnessTable(image, [probe]));
        }

        byte[] blob = QemuHarness.Encode(tables, compiler.EntryCount);
        Assert.True((ulong)blob.Length <= QemuHarness.MaxBlobBytes);

        tables.Add(new HarnessTable(image, [probe]));
        var e = Assert.ThrowsAny<Exception>(() => QemuHarness.Encode(tables, compiler.EntryCount));
        Assert.Contains("overlap the probe arena", e.Message, StringComparison.Ordinal);
    }
}
