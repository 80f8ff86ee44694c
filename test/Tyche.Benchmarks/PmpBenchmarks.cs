// SPDX-License-Identifier: Apache-2.0
using System;
using BenchmarkDotNet.Attributes;
using Tyche.Backends.Pmp;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;

namespace Tyche.Benchmarks;

/// <summary>PMP compilation hot path: a domain of 16 ranges into a hart image (target ≤ 2 µs, 0 B allocated).</summary>
[MemoryDiagnoser]
public class PmpBenchmarks
{
    private PmpCompiler _napot16 = null!;
    private PmpCompiler _mixed64 = null!;
    private MemoryPermission[] _napotRanges = null!;
    private MemoryPermission[] _mixedRanges = null!;
    private PmpImage _image16 = null!;
    private PmpImage _image64 = null!;
    private PmpImage _previous64 = null!;
    private PmpImage _empty64 = null!;
    private PmpCsrWrite[] _writes = null!;
    private MemoryPermission[] _mixedRangesB = null!;
    private MemoryPermission[] _layeredRanges = null!;
    private MemoryPermission[] _layeredRangesB = null!;
    private MemoryPermission[] _worstRanges = null!;
    private MemoryPermission[] _worstRangesB = null!;
    private bool _flip;
    private MemoryPermission[][] _randomPool = null!;
    private int _next;

    /// <summary>Builds the compilers, ranges and images once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        // 16 disjoint naturally aligned ranges: exactly the 16 entries of a QEMU virt hart.
        _napot16 = new PmpCompiler(new PmpHartOptions());
        _napotRanges = new MemoryPermission[16];
        for (int i = 0; i < 16; i++)
        {
            ulong start = 0x8000_0000UL + ((ulong)i * 0x10_0000);
            _napotRanges[i] = new MemoryPermission(start, start + (0x1000UL << (i % 8)), i % 2 == 0 ? MemoryOperations.Read | MemoryOperations.Write : MemoryOperations.Read | MemoryOperations.Execute);
        }

        // 16 mixed ranges under two locked monitor regions on a 64-entry hart; 16 alternating R / RW pages in one block.
        _mixed64 = new PmpCompiler(new PmpHartOptions { EntryCount = 64 }, PmpBenchmarkLayouts.MixedMonitor());
        _mixedRanges = PmpBenchmarkLayouts.Mixed();
        _layeredRanges = PmpBenchmarkLayouts.Layered();

        // Worst shape for the layered planner on a 64-entry hart: 64 pages cycling through the rights, every other one
        // after a gap (97 elementary segments); the lower bound does not settle it, the planner runs and finds no
        // layered plan below the 64 NAPOT entries.
        _worstRanges = new MemoryPermission[64];
        MemoryOperations[] cycle = [MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Execute, MemoryOperations.Read | MemoryOperations.Execute, MemoryOperations.Rights];
        ulong at = 0x8100_0000;
        for (int i = 0; i < 64; i++)
        {
            at += i % 2 == 0 ? 0x1000UL : 0;
            _worstRanges[i] = new MemoryPermission(at, at + 0x1000, cycle[i % cycle.Length]);
            at += 0x1000;
        }

        // Second versions differing in one range's rights, alternated so that every call plans afresh (the compiler
        // reuses the layered tables only for exactly the runs it planned last, e.g. admission's Measure then Compile).
        _mixedRangesB = (MemoryPermission[])_mixedRanges.Clone();
        _mixedRangesB[5] = _mixedRangesB[5] with { Operations = MemoryOperations.Execute };
        _layeredRangesB = (MemoryPermission[])_layeredRanges.Clone();
        _layeredRangesB[15] = _layeredRangesB[15] with { Operations = MemoryOperations.Read | MemoryOperations.Execute };
        _worstRangesB = (MemoryPermission[])_worstRanges.Clone();
        _worstRangesB[63] = _worstRangesB[63] with { Operations = MemoryOperations.Read };

        _randomPool = RandomPool(64, 16, seed: 20261122);

        _image16 = _napot16.CreateImage();
        _image64 = _mixed64.CreateImage();
        _previous64 = _mixed64.CreateImage();
        _empty64 = _mixed64.CreateImage();
        _mixed64.Compile(_mixedRanges, _previous64);
        _writes = new PmpCsrWrite[_mixed64.MaxSwitchWrites];
    }

    /// <summary>16 NAPOT ranges into a 16-entry RV64 image.</summary>
    /// <returns>Entries used.</returns>
    [Benchmark(Baseline = true)]
    public int Compile16Napot() => _napot16.Compile(_napotRanges, _image16).EntriesNeeded;

    /// <summary>16 mixed ranges (TOR chains, NAPOT, NA4; layering wins: 17 entries instead of 21) into a 64-entry image below monitor entries; the same ranges every call.</summary>
    /// <returns>Entries used.</returns>
    [Benchmark]
    public int Compile16Mixed() => _mixed64.Compile(_mixedRanges, _image64).EntriesNeeded;

    /// <summary>The same, keeping entry groups where the previous image has them (fewest switch writes).</summary>
    /// <returns>Entries used.</returns>
    [Benchmark]
    public int Compile16MixedStable() => _mixed64.Compile(_mixedRanges, _image64, _previous64).EntriesNeeded;

    /// <summary>Admission only: count the entries 16 mixed ranges need.</summary>
    /// <returns>Entries needed.</returns>
    [Benchmark]
    public int Measure16Mixed() => _mixed64.Measure(_mixedRanges).EntriesNeeded;

    /// <summary>The 16 mixed ranges, alternating with a variant, so every call runs the layered planner afresh.</summary>
    /// <returns>Entries used.</returns>
    [Benchmark]
    public int Compile16MixedFresh() => _mixed64.Compile((_flip = !_flip) ? _mixedRanges : _mixedRangesB, _image64).EntriesNeeded;

    /// <summary>16 pages alternating R / RW inside one aligned block (layering: 9 entries instead of 16), planned afresh every call.</summary>
    /// <returns>Entries used.</returns>
    [Benchmark]
    public int Compile16LayeredFresh() => _napot16.Compile((_flip = !_flip) ? _layeredRanges : _layeredRangesB, _image16).EntriesNeeded;

    /// <summary>Admission only for the fresh mixed case: the layered planner's tables without emitting entries.</summary>
    /// <returns>Entries needed.</returns>
    [Benchmark]
    public int Measure16MixedFresh() => _mixed64.Measure((_flip = !_flip) ? _mixedRanges : _mixedRangesB).EntriesNeeded;

    /// <summary>Admission only for the fresh layered case.</summary>
    /// <returns>Entries needed.</returns>
    [Benchmark]
    public int Measure16LayeredFresh() => _napot16.Measure((_flip = !_flip) ? _layeredRanges : _layeredRangesB).EntriesNeeded;

    /// <summary>Admission of 64 pages on a 64-entry hart in a bad shape for the layered planner (97 segments), planned afresh every call.</summary>
    /// <returns>Entries needed.</returns>
    [Benchmark]
    public int Measure64WorstFresh() => _mixed64.Measure((_flip = !_flip) ? _worstRanges : _worstRangesB).EntriesNeeded;

    /// <summary>
    /// 16 ranges drawn from a fixed pool of 64 random layouts (pages, multi-page and word-sized ranges, gaps, five
    /// rights; seeded), a different one every call: the average fresh cost over layouts nobody tuned for.
    /// </summary>
    /// <returns>Entries used.</returns>
    [Benchmark]
    public int Compile16RandomFresh() => _mixed64.Compile(_randomPool[_next++ & 63], _image64).EntriesNeeded;

    /// <summary>Admission only over the same pool of random layouts.</summary>
    /// <returns>Entries needed.</returns>
    [Benchmark]
    public int Measure16RandomFresh() => _mixed64.Measure(_randomPool[_next++ & 63]).EntriesNeeded;

    /// <summary>The CSR writes of a switch from an empty domain image to the compiled one.</summary>
    /// <returns>Number of writes.</returns>
    [Benchmark]
    public int SwitchWrites()
    {
        _mixed64.GetSwitchWrites(_empty64, _previous64, _writes, out int written, out _);
        return written;
    }

    /// <summary>Seeded random layouts of <paramref name="ranges"/> ranges each, above the monitor regions of the mixed hart.</summary>
    private static MemoryPermission[][] RandomPool(int count, int ranges, int seed)
    {
        var rng = new Random(seed);
        MemoryOperations[] rights =
        [
            MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Read | MemoryOperations.Execute,
            MemoryOperations.Rights, MemoryOperations.Execute,
        ];
        var pool = new MemoryPermission[count][];
        for (int k = 0; k < count; k++)
        {
            var layout = new MemoryPermission[ranges];
            ulong cursor = 0x8010_0000UL + ((ulong)rng.Next(0, 64) * 0x1000);
            for (int i = 0; i < ranges; i++)
            {
                cursor += rng.Next(4) == 0 ? (ulong)rng.Next(1, 16) * 0x1000 : 0; // a gap now and then
                ulong size = rng.Next(4) switch
                {
                    0 => 4UL << rng.Next(0, 4),
                    1 => 0x1000UL << rng.Next(0, 4),
                    2 => (ulong)rng.Next(1, 8) * 0x1000,
                    _ => 0x1000,
                };
                if (rng.Next(3) == 0)
                {
                    ulong align = 1UL << System.Numerics.BitOperations.Log2(size);
                    cursor = (cursor + align - 1) & ~(align - 1); // aligned now and then
                }

                layout[i] = new MemoryPermission(cursor, cursor + size, rights[rng.Next(rights.Length)]);
                cursor += size;
            }

            pool[k] = layout;
        }

        return pool;
    }
}
