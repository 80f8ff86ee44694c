// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>
/// Minimality against an exhaustive search: every PMP configuration of up to three entries over a small address
/// space (8 grains) is enumerated with the spec's matching rules (priority, TOR bound = previous pmpaddr, NAPOT
/// encodings as bounds, entry 0 bounded by 0); for every one of the 6^8 right maps the compiler's entry count must
/// equal the smallest configuration that produces exactly that map, overlapping (layered) configurations included.
/// Maps that need more than three entries are only checked to be compiled correctly.
/// </summary>
public sealed class PmpMinimalityTests(ITestOutputHelper output)
{
    private const int Grains = PmpExactOracleBruteForce.Grains;
    private const int MaxEntries = PmpExactOracleBruteForce.MaxEntries;
    private static readonly byte[] Rights = [0, 1, 4, 5, 3, 7]; // none, R, X, RX, RW, RWX (never W without R)

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Compiler_uses_the_fewest_entries_of_any_encoding(int granularity)
    {
        // min entries per exact right map (3 bits per grain), over all encodings and over non-overlapping ones.
        (byte[] globalMin, byte[] disjointMin) = PmpExactOracleBruteForce.MinimumEntriesWithDisjoint(granularity);

        var compiler = new PmpCompiler(new PmpHartOptions { Granularity = granularity });
        PmpImage image = compiler.CreateImage();
        var ranges = new MemoryPermission[Grains];
        ulong grainBytes = 4UL << granularity;
        int total = 0, overlapBetter = 0, layeredMaps = 0, layeredPlans = 0, checkedImages = 0;
        long maps = 1;
        for (int i = 0; i < Grains; i++)
        {
            maps *= Rights.Length;
        }

        for (long m = 0; m < maps; m++)
        {
            long rest = m;
            int key = 0;
            for (int g = 0; g < Grains; g++)
            {
                byte perms = Rights[rest % Rights.Length];
                rest /= Rights.Length;
                key |= perms << (3 * g);
                ranges[g] = new MemoryPermission((ulong)g * grainBytes, (ulong)(g + 1) * grainBytes, (MemoryOperations)perms);
            }

            PmpCompileResult r = compiler.Measure(ranges);
            if (!r.IsOk)
            {
                Assert.Fail(r.ToString());
            }

            int needed = r.EntriesNeeded;
            total++;
            if (compiler.LastPlanIsLayered)
            {
                layeredPlans++;
            }

            if (globalMin[key] <= MaxEntries && needed != globalMin[key])
            {
                Assert.Fail($"map 0x{key:x6}: compiler {needed}, exhaustive minimum over all encodings {globalMin[key]} (non-overlapping {disjointMin[key]})");
            }

            if (needed <= MaxEntries && globalMin[key] != needed)
            {
                Assert.Fail($"map 0x{key:x6}: compiler {needed} but the exhaustive search found no encoding of that size");
            }

            bool layered = needed < disjointMin[key];
            if (layered && globalMin[key] <= MaxEntries)
            {
                layeredMaps++;
            }

            if (globalMin[key] < disjointMin[key])
            {
                overlapBetter++;
            }

            // Every 31st map and every map that needs layering: the emitted image really gives exactly these rights (reference walker).
            if (m % 31 == 0 || (layered && globalMin[key] <= MaxEntries))
            {
                Assert.True(compiler.Compile(ranges, image).IsOk);
                checkedImages++;
                for (int g = 0; g < Grains; g++)
                {
                    foreach (AccessKind kind in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Execute })
                    {
                        bool expected = Ranges.DomainAllows(ranges[g].Operations, kind);
                        Assert.Equal(expected, PmpReferenceWalker.Allows(image, 56, ranges[g].Start, 4, kind, PrivilegeMode.User));
                    }
                }

                Assert.False(PmpReferenceWalker.Allows(image, 56, Grains * grainBytes, 4, AccessKind.Read, PrivilegeMode.User));
            }
        }

        output.WriteLine($"G={granularity}: {total} right maps, configurations up to {MaxEntries} entries enumerated; " +
            $"{checkedImages} images walked; layered encodings are smaller than every non-overlapping one for {overlapBetter} maps, the compiler layers {layeredMaps}; over all maps it chooses a layered plan for {layeredPlans}.");
        Assert.Equal(overlapBetter, layeredMaps);
        Assert.Equal(maps, total);
    }
}
