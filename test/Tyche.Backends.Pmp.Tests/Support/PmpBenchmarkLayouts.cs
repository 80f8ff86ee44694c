// SPDX-License-Identifier: Apache-2.0
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>
/// The layouts of the PMP benchmarks, in one place for the benchmarks and the tests that pin their entry counts and
/// lower bounds (also compiled into test/Tyche.Benchmarks).
/// </summary>
internal static class PmpBenchmarkLayouts
{
    /// <summary>The two locked monitor regions above the mixed layout (a 64-entry hart).</summary>
    public static PmpMonitorRegion[] MixedMonitor() =>
        [new PmpMonitorRegion(0x8000_0000, 0x8002_0000, PmpConfigBits.None), new PmpMonitorRegion(0x8002_0000, 0x8002_3000, PmpConfigBits.Read)];

    /// <summary>16 mixed ranges (TOR chains, NAPOT, NA4, isolated TOR; a gap every five): 17 entries with layering, 21 without.</summary>
    public static MemoryPermission[] Mixed()
    {
        var ranges = new MemoryPermission[16];
        ulong cursor = 0x8010_0000;
        MemoryOperations[] rights = [MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Read | MemoryOperations.Execute, MemoryOperations.Rights];
        for (int i = 0; i < 16; i++)
        {
            ulong size = (i % 4) switch { 0 => 0x3000, 1 => 0x1000, 2 => 4, _ => 0x5000 };
            if (i % 5 == 4)
            {
                cursor += 0x10_0000; // break the chain now and then
            }

            cursor = size == 0x1000 ? (cursor + 0xfff) & ~0xfffUL : cursor;
            ranges[i] = new MemoryPermission(cursor, cursor + size, rights[i % rights.Length]);
            cursor += size;
        }

        return ranges;
    }

    /// <summary>16 pages alternating R / RW inside one aligned 64 KiB block: 9 entries with layering (R block + 8 RW pages), 16 without.</summary>
    public static MemoryPermission[] Layered()
    {
        var ranges = new MemoryPermission[16];
        for (int i = 0; i < 16; i++)
        {
            ulong start = 0x8040_0000UL + ((ulong)i * 0x1000);
            ranges[i] = new MemoryPermission(start, start + 0x1000, i % 2 == 0 ? MemoryOperations.Read : MemoryOperations.Read | MemoryOperations.Write);
        }

        return ranges;
    }
}
