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
    private const int Grains = 8;
    private const int MaxEntries = 3;
    private static readonly byte[] Rights = [0, 1, 4, 5, 3, 7]; // none, R, X, RX, RW, RWX (never W without R)

    private readonly record struct Option(int Kind, ulong Value, uint Mask, byte Perms); // Kind: 0 OFF, 1 TOR, 2 NA4/NAPOT

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Compiler_uses_the_fewest_entries_of_any_encoding(int granularity)
    {
        int wordsPerGrain = 1 << granularity;
        int words = Grains * wordsPerGrain;
        List<Option> options = BuildOptions(words, wordsPerGrain, granularity);

        // min entries per exact right map (3 bits per grain), over all encodings and over non-overlapping ones.
        var globalMin = new byte[1 << (3 * Grains)];
        var disjointMin = new byte[1 << (3 * Grains)];
        Array.Fill(globalMin, (byte)255);
        Array.Fill(disjointMin, (byte)255);
        globalMin[0] = 0;
        disjointMin[0] = 0;
        Span<Option> seq = stackalloc Option[MaxEntries];
        for (int k = 1; k <= MaxEntries; k++)
        {
            Enumerate(options, seq, 0, k, words, wordsPerGrain, globalMin, disjointMin);
        }

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

        output.WriteLine($"G={granularity}: {total} right maps, {options.Count} entry options, configurations up to {MaxEntries} entries enumerated; " +
            $"{checkedImages} images walked; layered encodings are smaller than every non-overlapping one for {overlapBetter} maps, the compiler layers {layeredMaps}; over all maps it chooses a layered plan for {layeredPlans}.");
        Assert.Equal(overlapBetter, layeredMaps);
        Assert.Equal(maps, total);
    }

    private static List<Option> BuildOptions(int words, int wordsPerGrain, int granularity)
    {
        var list = new List<Option>();
        for (int a = 0; a <= words; a += wordsPerGrain)
        {
            list.Add(new Option(0, (ulong)a, 0, 0)); // OFF, its address usable as a TOR bound
        }

        foreach (byte p in Rights)
        {
            for (int top = wordsPerGrain; top <= words; top += wordsPerGrain)
            {
                list.Add(new Option(1, (ulong)top, 0, p)); // TOR: mask depends on the previous entry
            }

            if (granularity == 0)
            {
                for (int w = 0; w < words; w++)
                {
                    list.Add(new Option(2, (ulong)w, 1u << w, p)); // NA4: pmpaddr = word index
                }
            }

            for (int size = 2; size <= words; size *= 2)
            {
                if (size < wordsPerGrain)
                {
                    continue;
                }

                for (int b = 0; b + size <= words; b += size)
                {
                    uint mask = (uint)(((1UL << size) - 1) << b);
                    list.Add(new Option(2, (ulong)(b | ((size / 2) - 1)), mask, p)); // NAPOT: pmpaddr in words, trailing ones
                }
            }
        }

        return list;
    }

    private static void Enumerate(List<Option> options, Span<Option> seq, int depth, int k, int words, int wordsPerGrain, byte[] globalMin, byte[] disjointMin)
    {
        if (depth == k)
        {
            Evaluate(seq[..k], words, wordsPerGrain, globalMin, disjointMin, (byte)k);
            return;
        }

        for (int i = 0; i < options.Count; i++)
        {
            Option o = options[i];
            seq[depth] = o;
            Enumerate(options, seq, depth + 1, k, words, wordsPerGrain, globalMin, disjointMin);
        }
    }

    private static void Evaluate(ReadOnlySpan<Option> seq, int words, int wordsPerGrain, byte[] globalMin, byte[] disjointMin, byte k)
    {
        Span<uint> masks = stackalloc uint[MaxEntries];
        uint union = 0;
        bool disjoint = true;
        for (int j = 0; j < seq.Length; j++)
        {
            Option o = seq[j];
            uint mask = o.Mask;
            if (o.Kind == 1)
            {
                ulong lo = j == 0 ? 0 : seq[j - 1].Value;
                ulong hi = Math.Min(o.Value, (ulong)words);
                mask = lo < hi ? (uint)(((1UL << (int)(hi - lo)) - 1) << (int)lo) : 0;
            }

            masks[j] = mask;
            if (o.Kind != 0)
            {
                disjoint &= (union & mask) == 0;
                union |= mask;
            }
        }

        int key = 0;
        for (int g = 0; g < Grains; g++)
        {
            // A grain is granted only if every word of it is matched by the same first entry (else partial/mixed).
            int perms = -1;
            for (int w = g * wordsPerGrain; w < (g + 1) * wordsPerGrain; w++)
            {
                int p = 0;
                for (int j = 0; j < seq.Length; j++)
                {
                    if (seq[j].Kind != 0 && (masks[j] >> w & 1) != 0)
                    {
                        p = seq[j].Perms;
                        break;
                    }
                }

                if (perms != -1 && perms != p)
                {
                    return; // not expressible as a grain map
                }

                perms = p;
            }

            key |= perms << (3 * g);
        }

        if (globalMin[key] > k)
        {
            globalMin[key] = k;
        }

        if (disjoint && disjointMin[key] > k)
        {
            disjointMin[key] = k;
        }
    }
}
