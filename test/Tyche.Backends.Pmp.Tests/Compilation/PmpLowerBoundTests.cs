// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>
/// The compiler's lower bound (change points − free bound − maximum matching of block-shaped pairs; see
/// <c>PmpCompiler.LowerBound.cs</c>), which decides when the layered planner can be skipped: its matching against an
/// exhaustive one, and the bound against the compiler's own exact counts on large random layouts (the exhaustive
/// oracle check is in <see cref="PmpExactOracleTests"/>). Seed: env TYCHE_PMP_SEED, else time-based; always printed.
/// </summary>
public sealed class PmpLowerBoundTests(ITestOutputHelper output)
{
    /// <summary>Two points bound a naturally aligned power-of-two block.</summary>
    private static bool Joined(ulong u, ulong v)
    {
        ulong size = v - u;
        return size != 0 && (size & (size - 1)) == 0 && u % size == 0;
    }

    /// <summary>Maximum matching by exhaustion: the lowest unmatched point stays single or pairs with any later neighbour.</summary>
    private static int BruteMatching(ulong[] points)
    {
        var memo = new Dictionary<int, int>();
        int Go(int mask)
        {
            if (mask == 0)
            {
                return 0;
            }

            if (memo.TryGetValue(mask, out int known))
            {
                return known;
            }

            int i = System.Numerics.BitOperations.TrailingZeroCount(mask);
            int rest = mask & ~(1 << i);
            int best = Go(rest);
            for (int j = i + 1; j < points.Length; j++)
            {
                if ((rest & (1 << j)) != 0 && Joined(points[i], points[j]))
                {
                    best = Math.Max(best, 1 + Go(rest & ~(1 << j)));
                }
            }

            memo[mask] = best;
            return best;
        }

        return Go((1 << points.Length) - 1);
    }

    [Fact]
    public void Block_matching_equals_an_exhaustive_matching_on_random_point_sets()
    {
        int seed = PmpSeed.Next(output);
        var rng = new Random(seed);
        var compiler = new PmpCompiler(new PmpHartOptions());
        int compared = 0, withArcs = 0, maxSeen = 0;
        for (int round = 0; round < 3000; round++)
        {
            // Dense, highly aligned sets (many nested blocks sharing ends), sometimes spread over a larger space.
            int count = rng.Next(1, 15);
            int scale = rng.Next(3) == 0 ? 6 : 4;
            var set = new SortedSet<ulong>();
            while (set.Count < count)
            {
                set.Add((ulong)rng.Next(1, 1 << scale) * 4);
            }

            ulong[] points = [.. set];
            int expected = BruteMatching(points);
            int actual = compiler.MaximumBlockMatchingOf(points);
            if (actual != expected)
            {
                Assert.Fail($"seed {seed}: points [{string.Join(", ", points.Select(p => p.ToString(CultureInfo.InvariantCulture)))}]: matching {actual}, exhaustive {expected}");
            }

            compared++;
            withArcs += expected > 0 ? 1 : 0;
            maxSeen = Math.Max(maxSeen, expected);
        }

        Assert.True(withArcs > compared / 2, $"only {withArcs} of {compared} sets had a block pair");
        output.WriteLine($"seed {seed}: {compared} point sets, {withArcs} with pairs, largest matching {maxSeen}; the tree walk equals the exhaustive matching on all.");
    }

    [Fact]
    public void Greedy_pairing_would_be_wrong_and_the_matching_is_not()
    {
        // 32–40 and 40–44 and 32–64 are blocks: taking the first pair blocks both others; the best is {40–44, 32–64}.
        var compiler = new PmpCompiler(new PmpHartOptions());
        Assert.Equal(2, compiler.MaximumBlockMatchingOf([32, 40, 44, 64]));
        // A star: 0x8010_0000–0x8010_4000, 0x8010_3000–0x8010_4000 and 0x8010_4000–0x8010_4004 all share one point.
        Assert.Equal(1, compiler.MaximumBlockMatchingOf([0x8010_0000, 0x8010_3000, 0x8010_4000, 0x8010_4004]));
        // A path of 17 page boundaries inside one aligned 64 KiB block: 8 pairs.
        ulong[] pages = [.. Enumerable.Range(0, 17).Select(i => 0x8040_0000UL + ((ulong)i * 0x1000))];
        Assert.Equal(8, compiler.MaximumBlockMatchingOf(pages));
    }

    [Fact]
    public void The_benchmark_layouts_have_the_bounds_the_benchmarks_rely_on()
    {
        // The mixed layout of PmpBenchmarks: 22 change points, 5 matched pairs, so no encoding has fewer than 17 entries;
        // the non-overlapping plan needs 21, so the layered planner runs and its plan reaches the bound.
        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64 }, PmpBenchmarkLayouts.MixedMonitor());
        MemoryPermission[] mixed = PmpBenchmarkLayouts.Mixed();
        Assert.Equal(17, compiler.LowerBoundOf(mixed));
        Assert.Equal(17, compiler.Measure(mixed).EntriesNeeded);
        Assert.False(compiler.LowerBoundReachesOf(mixed, 21));

        // Alternating R / RW pages in one aligned 64 KiB block: the bound is 9 and the layered plan reaches it.
        var pages = new PmpCompiler(new PmpHartOptions());
        MemoryPermission[] layered = PmpBenchmarkLayouts.Layered();
        Assert.Equal(9, pages.LowerBoundOf(layered));
        Assert.Equal(9, pages.Measure(layered).EntriesNeeded);
    }

    [Fact]
    public void A_tor_across_a_large_gap_saves_an_entry_so_no_gap_splits_the_problem()
    {
        // RX | R | RW | gap of 1 MiB + 4 KiB | R R R: one R TOR over all of it (bounded by the RX NAPOT), the RW NAPOT on
        // top and a deny TOR bounded by the RW NAPOT's pmpaddr over the gap: 4 entries, the bound. Planned separately
        // the two sides need 3 and 2, so splitting the segment list at gaps (a tempting speed-up) would lose minimality.
        var compiler = new PmpCompiler(new PmpHartOptions());
        MemoryPermission[] all =
        [
            Ranges.P(0x8000_0000, 0x8000_1000, "RX"), Ranges.P(0x8000_1000, 0x8000_2000, "R"), Ranges.P(0x8000_2000, 0x8000_3000, "RW"),
            Ranges.P(0x8010_4000, 0x8010_7000, "R"),
        ];
        Assert.Equal(4, compiler.LowerBoundOf(all));
        Assert.Equal(4, compiler.Measure(all).EntriesNeeded);
        Assert.Equal(3, compiler.Measure(all.AsSpan(0, 3)).EntriesNeeded);
        Assert.Equal(2, compiler.Measure(all.AsSpan(3)).EntriesNeeded);
    }

    [Fact]
    public void The_free_bound_counts_once_when_it_is_a_change_point()
    {
        // The monitor region is not a power of two, so its last entry is a TOR whose pmpaddr is 0x8002_3000, where the
        // domain's only range starts: a TOR entry there needs no bound of its own, so the range's two change points cost
        // one entry (its size, 12 KiB, is no block).
        var compiler = new PmpCompiler(new PmpHartOptions(), [new PmpMonitorRegion(0x8000_0000, 0x8002_3000, PmpConfigBits.None)]);
        MemoryPermission[] ranges = [Ranges.P(0x8002_3000, 0x8002_6000, "RW")];
        Assert.Equal(1, compiler.LowerBoundOf(ranges));
        Assert.Equal(1, compiler.Measure(ranges).EntriesNeeded);

        var plain = new PmpCompiler(new PmpHartOptions());
        Assert.Equal(2, plain.LowerBoundOf(ranges));
        Assert.Equal(2, plain.Measure(ranges).EntriesNeeded);
    }

    [Fact]
    public void The_largest_point_sets_fit_the_scratch_and_keep_the_bound_below_the_count()
    {
        // 64 one-page runs with one-page gaps in an aligned 512 KiB block: 128 consecutive page boundaries, so every
        // aligned power-of-two block among them is a pair (253 of them, nested 7 deep); the matching pairs neighbours.
        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64 });
        MemoryPermission[] ranges = [.. Enumerable.Range(0, 64).Select(i => Ranges.P(0x8100_0000UL + ((ulong)i * 0x2000), 0x8100_1000UL + ((ulong)i * 0x2000), i % 2 == 0 ? "R" : "RX"))];
        ulong[] points = [.. Enumerable.Range(0, 128).Select(i => 0x8100_0000UL + ((ulong)i * 0x1000))];
        Assert.Equal(64, compiler.MaximumBlockMatchingOf(points));
        int bound = compiler.LowerBoundOf(ranges);
        Assert.Equal(128 - 64, bound);
        Assert.True(bound <= compiler.Measure(ranges).EntriesNeeded);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(0, true)]
    [InlineData(2, true)]
    public void The_bound_never_exceeds_the_compilers_exact_count_on_large_random_layouts(int granularity, bool withMonitor)
    {
        int seed = PmpSeed.Next(output);
        var rng = new Random(seed);
        ulong grain = 4UL << granularity;
        // The monitor region is no power of two, so its last entry is a TOR whose pmpaddr (0x8002_3000, the free bound) is
        // where half of the layouts start.
        PmpMonitorRegion[] monitor = withMonitor ? [new PmpMonitorRegion(0x8000_0000, 0x8002_3000, PmpConfigBits.None)] : [];
        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64, Granularity = granularity }, monitor);
        int layouts = 0, tight = 0;
        for (int round = 0; round < 1500; round++)
        {
            var list = new List<MemoryPermission>();
            ulong cursor = 0x8002_3000UL + (rng.Next(2) == 0 ? 0 : (ulong)rng.Next(1, 64) * 0x1000);
            int n = rng.Next(1, 40);
            for (int i = 0; i < n; i++)
            {
                cursor += rng.Next(5) == 0 ? (ulong)rng.Next(1, 8) * 0x1000 : 0;
                ulong size = rng.Next(3) switch
                {
                    0 => Math.Max(grain, 4UL << rng.Next(0, 5)),
                    1 => 0x1000UL << rng.Next(0, 4),
                    _ => (ulong)rng.Next(1, 6) * 0x1000,
                };
                size = (size + grain - 1) & ~(grain - 1);
                if (rng.Next(3) == 0)
                {
                    ulong align = 1UL << System.Numerics.BitOperations.Log2(size);
                    cursor = (cursor + align - 1) & ~(align - 1);
                }

                string[] names = ["R", "RW", "RX", "RWX", "X"];
                list.Add(Ranges.P(cursor, cursor + size, names[rng.Next(names.Length)]));
                cursor += size;
            }

            MemoryPermission[] ranges = [.. list];
            int bound = compiler.LowerBoundOf(ranges);
            PmpCompileResult measured = compiler.Measure(ranges);
            if (bound < 0 || !measured.IsOk && measured.Status != PmpStatus.TooManyEntries)
            {
                continue;
            }

            if (bound > measured.EntriesNeeded)
            {
                Assert.Fail($"seed {seed}, round {round}: bound {bound} above the compiler's {measured.EntriesNeeded} for {string.Join(", ", ranges)}");
            }

            // The quick decision the compiler takes (cheap bounds on the matching first) agrees with the exact bound.
            foreach (int planned in new[] { bound - 1, bound, bound + 1, measured.EntriesNeeded })
            {
                if (compiler.LowerBoundReachesOf(ranges, planned) != (bound >= planned))
                {
                    Assert.Fail($"seed {seed}, round {round}: bound {bound}, but the quick decision for {planned} planned entries disagrees, for {string.Join(", ", ranges)}");
                }
            }

            layouts++;
            tight += bound == measured.EntriesNeeded ? 1 : 0;
        }

        Assert.True(layouts > 1000, $"only {layouts} layouts measured");
        output.WriteLine($"seed {seed}, G={granularity}, monitor {withMonitor}: bound ≤ compiler on {layouts} layouts, equal on {tight} (the bound is tight there).");
    }
}
