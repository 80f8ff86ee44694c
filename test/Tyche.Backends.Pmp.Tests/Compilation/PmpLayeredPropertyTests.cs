// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>
/// Larger layouts than the exhaustive tests reach, shaped so that layering often pays (pages with alternating rights in
/// aligned blocks, gaps, words): every compiled image is walked with the spec walker at every range edge and middle,
/// Measure and Compile agree, the image uses exactly the counted entries, and admission refuses with the counts.
/// Seed: env TYCHE_PMP_SEED, else time-based; always printed.
/// </summary>
public sealed class PmpLayeredPropertyTests(ITestOutputHelper output)
{
    private static readonly MemoryOperations[] Rights =
    [
        MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Read | MemoryOperations.Execute,
        MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute, MemoryOperations.Execute,
    ];

    private static List<MemoryPermission> RandomLayout(Random rng, ulong grain)
    {
        var list = new List<MemoryPermission>();
        ulong cursor = 0x8000_0000UL + ((ulong)rng.Next(0, 16) * 0x1_0000);
        int n = rng.Next(1, 25);
        MemoryOperations[] palette = [Rights[rng.Next(Rights.Length)], Rights[rng.Next(Rights.Length)], Rights[rng.Next(Rights.Length)]];
        for (int i = 0; i < n; i++)
        {
            int shape = rng.Next(6);
            cursor += shape == 0 ? (ulong)rng.Next(1, 8) * 0x1000 : 0; // a gap now and then
            ulong size = rng.Next(4) switch
            {
                0 => Math.Max(grain, 4UL << rng.Next(0, 4)), // words
                1 => 0x1000UL << rng.Next(0, 3),
                2 => (ulong)rng.Next(1, 6) * 0x1000,
                _ => 0x1000,
            };
            size = (size + grain - 1) & ~(grain - 1);
            if (rng.Next(3) == 0)
            {
                cursor = (cursor + size - 1) & ~(size - 1);
            }

            MemoryOperations ops = palette[rng.Next(palette.Length)];
            if (list.Count > 0 && list[^1].End == cursor && list[^1].Operations == ops)
            {
                ops = ops == palette[0] ? palette[1] : palette[0];
            }

            list.Add(new MemoryPermission(cursor, cursor + size, ops));
            cursor += size;
        }

        return list;
    }

    private static int UsedEntries(PmpImage image, int first)
    {
        int n = 0;
        for (int i = first; i < image.EntryCount; i++)
        {
            bool active = PmpEncoding.GetMatching(image.GetConfig(i)) != PmpAddressMatching.Off;
            bool bound = !active && i + 1 < image.EntryCount && PmpEncoding.GetMatching(image.GetConfig(i + 1)) == PmpAddressMatching.Tor;
            n += active || bound ? 1 : 0;
        }

        return n;
    }

    private static void Walk(PmpImage image, List<MemoryPermission> ranges, IReadOnlyList<PmpMonitorRegion> monitor, ulong grain, string context)
    {
        var probes = new List<ulong>();
        foreach (MemoryPermission p in ranges)
        {
            probes.Add(p.Start - grain);
            probes.Add(p.Start);
            probes.Add(p.Start + ((p.End - p.Start) / 2 & ~(grain - 1)));
            probes.Add(p.End - grain);
            probes.Add(p.End);
        }

        foreach (ulong a in probes)
        {
            foreach (AccessKind k in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Execute })
            {
                bool expected = Ranges.Expected(ranges, monitor, a, k, PrivilegeMode.User);
                if (expected != PmpReferenceWalker.Allows(image, 56, a, 4, k, PrivilegeMode.User))
                {
                    Assert.Fail($"{context}: {k} at 0x{a:x} expected {(expected ? "ALLOW" : "FAULT")}\nranges {string.Join(", ", ranges)}\n{image}");
                }
            }
        }
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(0, true)]
    [InlineData(2, false)]
    public void Random_layouts_compile_to_exactly_their_rights_with_the_counted_entries(int granularity, bool withMonitor)
    {
        int seed = PmpSeed.Next(output);
        var rng = new Random(seed + granularity + (withMonitor ? 100 : 0));
        PmpMonitorRegion[] monitor = withMonitor
            ? [new PmpMonitorRegion(0x7000_0000, 0x7000_4000, PmpConfigBits.None), new PmpMonitorRegion(0x7000_4000, 0x8000_0000, PmpConfigBits.Read, Locked: false)]
            : [];
        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64, Granularity = granularity }, monitor);
        ulong grain = 4UL << granularity;
        int layered = 0, refused = 0;
        long maxTicks = 0;
        for (int iteration = 0; iteration < 400; iteration++)
        {
            List<MemoryPermission> ranges = RandomLayout(rng, grain);
            long start = Stopwatch.GetTimestamp();
            PmpCompileResult measured = compiler.Measure(ranges.ToArray());
            maxTicks = Math.Max(maxTicks, Stopwatch.GetTimestamp() - start);
            Assert.True(measured.Status is PmpStatus.Ok or PmpStatus.TooManyEntries, measured.ToString());
            PmpImage image = compiler.CreateImage();
            PmpCompileResult compiled = compiler.Compile(ranges.ToArray(), image);
            Assert.Equal(measured, compiled);
            if (!compiled.IsOk)
            {
                refused++;
                Assert.True(compiled.EntriesNeeded > compiled.EntriesAvailable);
                continue;
            }

            layered += compiler.LastPlanIsLayered ? 1 : 0;
            Assert.Equal(compiled.EntriesNeeded, UsedEntries(image, compiler.MonitorEntryCount));
            Walk(image, ranges, monitor, grain, $"iteration {iteration}");
        }

        output.WriteLine($"G={granularity}, monitor {withMonitor}: 400 layouts, {layered} compiled to a layered plan, {refused} refused; slowest Measure {maxTicks * 1e6 / Stopwatch.Frequency:F0} µs (Debug build, not a benchmark).");
        Assert.True(layered > 20, $"only {layered} layouts were layered: the generator no longer exercises layering");
    }

    [Fact]
    public void Admission_counts_layered_plans_and_refuses_with_needed_and_available()
    {
        // 16 pages alternating R / RW inside one aligned 64 KiB block: an R block with 8 RW pages on top (9 entries).
        var ranges = new MemoryPermission[16];
        for (int i = 0; i < ranges.Length; i++)
        {
            ulong start = 0x8040_0000UL + ((ulong)i * 0x1000);
            ranges[i] = Ranges.P(start, start + 0x1000, i % 2 == 0 ? "R" : "RW");
        }

        var small = new PmpCompiler(new PmpHartOptions { EntryCount = 8 });
        PmpImage image = small.CreateImage();
        PmpImage before = small.CreateImage();
        image.CopyTo(before);
        PmpCompileResult refused = small.Compile(ranges, image);
        Assert.Equal(PmpStatus.TooManyEntries, refused.Status);
        Assert.Equal(9, refused.EntriesNeeded);
        Assert.Equal(8, refused.EntriesAvailable);
        Assert.Equal("The domain needs 9 PMP entries but the hart has 8 for domains.", refused.ToString());
        Assert.True(image.ContentEquals(before)); // nothing written
        Assert.Equal(refused, small.Measure(ranges));

        var fits = new PmpCompiler(new PmpHartOptions { EntryCount = 9 });
        PmpImage nine = fits.CreateImage();
        PmpCompileResult ok = fits.Compile(ranges, nine);
        Assert.True(ok.IsOk, ok.ToString());
        Assert.Equal(9, nine.ActiveEntryCount);
        Walk(nine, [.. ranges], [], 4, "9-entry hart");
    }

    [Fact]
    public void The_worst_shape_for_the_layered_planner_compiles_to_exactly_its_rights()
    {
        // 64 single pages cycling through five rights, every other one after a gap: 129 elementary segments.
        MemoryOperations[] cycle = [MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Execute, MemoryOperations.Read | MemoryOperations.Execute, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute];
        var ranges = new List<MemoryPermission>();
        ulong at = 0x8100_0000;
        for (int i = 0; i < 64; i++)
        {
            at += i % 2 == 0 ? 0x1000UL : 0;
            ranges.Add(new MemoryPermission(at, at + 0x1000, cycle[i % cycle.Length]));
            at += 0x1000;
        }

        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64 });
        PmpCompileResult r = compiler.Measure(ranges.ToArray());
        Assert.True(r.EntriesNeeded is > 32 and <= 96, r.ToString()); // at least one entry per pair's boundaries, at most NAPOT + OFF + TOR per pair
        PmpImage image = compiler.CreateImage();
        PmpCompileResult ok = compiler.Compile(ranges.ToArray(), image);
        Assert.Equal(r, ok);
        if (ok.IsOk)
        {
            Assert.True(ok.EntriesNeeded == UsedEntries(image, 0), $"{ok}\n{image}");
            Walk(image, ranges, [], 4, "64 pages");
        }

        output.WriteLine($"64 pages in the worst shape: {r} (layered plan: {compiler.LastPlanIsLayered})");
    }
}
