// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>Random layouts, one region changed: the switch writes are the fewest and leave the hart equal to the target.</summary>
public sealed class PmpIncrementalPropertyTests(ITestOutputHelper output)
{
    private static readonly MemoryOperations[] Rights =
    [
        MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Read | MemoryOperations.Execute,
        MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute, MemoryOperations.Execute,
    ];

    private static List<MemoryPermission> RandomRanges(Random rng)
    {
        var list = new List<MemoryPermission>();
        ulong cursor = 0x8000_0000;
        int n = rng.Next(1, 9);
        for (int i = 0; i < n; i++)
        {
            cursor += rng.Next(3) == 0 ? 0 : (ulong)rng.Next(1, 64) * 0x1000;
            ulong size = rng.Next(2) == 0 ? 0x1000UL << rng.Next(0, 5) : (ulong)rng.Next(1, 16) * 0x1000;
            if (rng.Next(2) == 0)
            {
                cursor = (cursor + size - 1) & ~(size - 1);
            }

            list.Add(new MemoryPermission(cursor, cursor + size, Rights[rng.Next(Rights.Length)]));
            cursor += size;
        }

        return list;
    }

    private static void AssertEquivalent(PmpImage hart, PmpImage target, List<MemoryPermission> ranges)
    {
        foreach (MemoryPermission p in ranges)
        {
            foreach (ulong a in new[] { p.Start - 4, p.Start, p.End - 4, p.End })
            {
                foreach (AccessKind k in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Execute })
                {
                    bool expected = Ranges.Expected(ranges, [], a, k, PrivilegeMode.User);
                    Assert.Equal(expected, PmpReferenceWalker.Allows(target, 56, a, 4, k, PrivilegeMode.User));
                    Assert.Equal(expected, PmpReferenceWalker.Allows(hart, 56, a, 4, k, PrivilegeMode.User));
                }
            }
        }
    }

    [Fact]
    public void Changing_one_regions_rights_costs_one_cfg_write_and_any_change_leaves_the_hart_equal_to_the_target()
    {
        int seed = PmpSeed.Next(output);
        var rng = new Random(seed);
        var compiler = new PmpCompiler(new PmpHartOptions { EntryCount = 64 }, [new PmpMonitorRegion(0x9000_0000, 0x9000_1000, PmpConfigBits.None)]);
        var writes = new PmpCsrWrite[compiler.MaxSwitchWrites];
        int rightsChanges = 0, removals = 0, additions = 0, layeredChanges = 0;
        for (int iteration = 0; iteration < 300; iteration++)
        {
            List<MemoryPermission> ranges = RandomRanges(rng);
            PmpImage before = compiler.CreateImage();
            Assert.True(compiler.Compile(ranges.ToArray(), before).IsOk);
            PmpImage hart = compiler.CreateImage();
            before.CopyTo(hart);

            var changed = new List<MemoryPermission>(ranges);
            int i = rng.Next(changed.Count);
            int kind = rng.Next(3);
            bool rightsOnly = false;
            if (kind == 0)
            {
                // New rights that differ from both neighbours: same runs, same shapes, so only a cfg byte changes.
                MemoryOperations old = changed[i].Operations;
                MemoryOperations left = i > 0 && changed[i - 1].End == changed[i].Start ? changed[i - 1].Operations : MemoryOperations.None;
                MemoryOperations right = i + 1 < changed.Count && changed[i + 1].Start == changed[i].End ? changed[i + 1].Operations : MemoryOperations.None;
                MemoryOperations pick = Array.Find(Rights, r => r != old && r != left && r != right);
                if (left == old || right == old)
                {
                    continue; // merged with a neighbour: not a single-region rights change
                }

                changed[i] = changed[i] with { Operations = pick };
                rightsOnly = true;
                rightsChanges++;
            }
            else if (kind == 1)
            {
                changed.RemoveAt(i);
                removals++;
            }
            else
            {
                ulong start = changed[^1].End + 0x10_0000;
                changed.Add(new MemoryPermission(start, start + 0x1000, MemoryOperations.Read));
                additions++;
            }

            PmpImage after = compiler.CreateImage();
            Assert.True(compiler.Compile(changed.ToArray(), after, before).IsOk);
            Assert.Equal(PmpStatus.Ok, compiler.GetSwitchWrites(hart, after, writes, out int written, out _));

            // Keeping positions never costs more writes than laying the new image out from scratch.
            PmpImage fresh = compiler.CreateImage();
            Assert.True(compiler.Compile(changed.ToArray(), fresh).IsOk);
            Assert.Equal(PmpStatus.Ok, compiler.GetSwitchWrites(hart, fresh, writes, out int freshWritten, out _));
            Assert.True(written <= freshWritten, $"{written} writes keeping positions, {freshWritten} from scratch");
            Assert.Equal(PmpStatus.Ok, compiler.GetSwitchWrites(hart, after, writes, out written, out _));
            bool layered = HasOverlappingEntries(before, compiler.MonitorEntryCount) || HasOverlappingEntries(after, compiler.MonitorEntryCount);
            if (layered)
            {
                layeredChanges++;
            }

            // With non-overlapping encodings a rights change keeps every shape, so only one cfg byte changes. When
            // either image is layered (an entry carved by a higher-priority one), new rights can change which entry
            // carries the base rights, so more than one write may be the fewest; those are held to the bound above.
            if (rightsOnly && !layered)
            {
                Assert.Equal(1, written);
                Assert.True(writes[0].Csr < PmpEncoding.PmpAddr0Csr);
            }

            if (kind == 2)
            {
                Assert.True(written == 2, $"{written} writes: {string.Join("; ", writes.AsSpan(0, written).ToArray())}\nbefore:\n{before}\nafter:\n{after}\nranges {string.Join(", ", changed)}"); // one NAPOT address + its cfg register
            }

            compiler.ApplyWrites(hart, writes.AsSpan(0, written));
            AssertEquivalent(hart, after, changed);
        }

        output.WriteLine($"{rightsChanges} rights changes (1 write each unless layered), {removals} removals, {additions} additions (2 writes each); {layeredChanges} changes involved a layered image.");
        Assert.True(rightsChanges > 50 && removals > 50 && additions > 50);
    }

    /// <summary>Whether two active domain entries match overlapping address sets (a layered encoding).</summary>
    private static bool HasOverlappingEntries(PmpImage image, int first)
    {
        var spans = new List<(ulong Lo, ulong Hi)>();
        for (int i = first; i < image.EntryCount; i++)
        {
            PmpConfigBits cfg = image.GetConfig(i);
            ulong lo, hi;
            switch (PmpEncoding.GetMatching(cfg))
            {
                case PmpAddressMatching.Tor:
                    lo = i == 0 ? 0 : image.GetAddress(i - 1) << PmpEncoding.AddressShift;
                    hi = image.GetAddress(i) << PmpEncoding.AddressShift;
                    break;
                case PmpAddressMatching.Na4:
                    lo = image.GetAddress(i) << PmpEncoding.AddressShift;
                    hi = lo + PmpEncoding.WordSize;
                    break;
                case PmpAddressMatching.Napot:
                    PmpEncoding.DecodeNapot(image.GetAddress(i), out lo, out ulong size);
                    hi = lo + size;
                    break;
                default:
                    continue;
            }

            if (lo >= hi)
            {
                continue;
            }

            foreach ((ulong l, ulong h) in spans)
            {
                if (lo < h && l < hi)
                {
                    return true;
                }
            }

            spans.Add((lo, hi));
        }

        return false;
    }
}
