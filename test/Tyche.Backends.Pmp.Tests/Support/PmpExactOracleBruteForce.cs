// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>
/// The three-entry brute force: every configuration of up to three entries is enumerated and evaluated directly (no
/// state merging, no canonical bounds). <c>PmpMinimalityTests</c> compares the compiler with it, and it cross-checks
/// <see cref="PmpExactOracle"/>, whose breadth-first search shares none of its code.
/// </summary>
internal static class PmpExactOracleBruteForce
{
    public const int Grains = 8;
    public const int MaxEntries = 3;
    private static readonly byte[] Rights = [0, 1, 4, 5, 3, 7]; // none, R, X, RX, RW, RWX (never W without R)

    private readonly record struct Option(int Kind, ulong Value, uint Mask, byte Perms); // Kind: 0 OFF, 1 TOR, 2 NA4/NAPOT

    /// <summary>Minimum entries per map key (3 bits per grain), 255 when more than <see cref="MaxEntries"/> are needed.</summary>
    /// <param name="granularity">PMP granularity G.</param>
    /// <param name="unalignedTorValues">
    /// Also enumerate OFF/TOR pmpaddr values that are not grain aligned, taken as written (QEMU and the reference walker
    /// match with the raw register; the Privileged ISA reads pmpaddr[G-1:0] of an OFF/TOR entry as zeros, which the
    /// original option list models). Not in the original brute force: an addition to show the difference does not matter.
    /// </param>
    public static byte[] MinimumEntries(int granularity, bool unalignedTorValues = false) =>
        Minimum(granularity, unalignedTorValues, disjointMin: null);

    /// <summary>
    /// Minimum entries per map key over all encodings, and over encodings whose matching entries cover pairwise
    /// disjoint words (the class of the compiler's first, disjoint planner); 255 when more than <see cref="MaxEntries"/>.
    /// </summary>
    /// <param name="granularity">PMP granularity G.</param>
    public static (byte[] All, byte[] Disjoint) MinimumEntriesWithDisjoint(int granularity)
    {
        var disjointMin = new byte[1 << (3 * Grains)];
        Array.Fill(disjointMin, (byte)255);
        disjointMin[0] = 0;
        byte[] all = Minimum(granularity, unalignedTorValues: false, disjointMin);
        return (all, disjointMin);
    }

    private static byte[] Minimum(int granularity, bool unalignedTorValues, byte[]? disjointMin)
    {
        int wordsPerGrain = 1 << granularity;
        int words = Grains * wordsPerGrain;
        List<Option> options = BuildOptions(words, wordsPerGrain, granularity);
        if (unalignedTorValues)
        {
            for (int a = 1; a < words; a++)
            {
                if (a % wordsPerGrain == 0)
                {
                    continue; // already listed
                }

                options.Add(new Option(0, (ulong)a, 0, 0));
                foreach (byte p in Rights)
                {
                    options.Add(new Option(1, (ulong)a, 0, p));
                }
            }
        }

        var globalMin = new byte[1 << (3 * Grains)];
        Array.Fill(globalMin, (byte)255);
        globalMin[0] = 0;
        Span<Option> seq = stackalloc Option[MaxEntries];
        for (int k = 1; k <= MaxEntries; k++)
        {
            Enumerate(options, seq, 0, k, words, wordsPerGrain, globalMin, disjointMin);
        }

        return globalMin;
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

    private static void Enumerate(List<Option> options, Span<Option> seq, int depth, int k, int words, int wordsPerGrain, byte[] globalMin, byte[]? disjointMin)
    {
        if (depth == k)
        {
            Evaluate(seq[..k], words, wordsPerGrain, globalMin, disjointMin, (byte)k);
            return;
        }

        for (int i = 0; i < options.Count; i++)
        {
            seq[depth] = options[i];
            Enumerate(options, seq, depth + 1, k, words, wordsPerGrain, globalMin, disjointMin);
        }
    }

    private static void Evaluate(ReadOnlySpan<Option> seq, int words, int wordsPerGrain, byte[] globalMin, byte[]? disjointMin, byte k)
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

        if (disjointMin is not null && disjoint && disjointMin[key] > k)
        {
            disjointMin[key] = k;
        }
    }
}
