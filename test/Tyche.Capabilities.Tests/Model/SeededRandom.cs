// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;

namespace Tyche.Capabilities.Tests.Model;

/// <summary>A small seeded PRNG (SplitMix64 seeding, xorshift64*) so that every failing sequence replays from its seed.</summary>
internal sealed class SeededRandom
{
    private ulong _state;

    public SeededRandom(ulong seed)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        _state = (z ^ (z >> 31)) | 1UL;
    }

    public ulong NextULong()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return _state * 0x2545F4914F6CDD1DUL;
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Next(int n) => n <= 0 ? 0 : (int)(NextULong() % (ulong)n);

    /// <summary>Uniform in [lo, hi).</summary>
    public int Next(int lo, int hi) => lo + Next(hi - lo);

    /// <summary>True with probability percent/100.</summary>
    public bool Chance(int percent) => Next(100) < percent;

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];
}

/// <summary>Seeds and sequence counts for the randomized tests, from the environment.</summary>
internal static class TestSeeds
{
    /// <summary><c>TYCHE_SEED</c>: replay one sequence with exactly this seed.</summary>
    public static ulong? Replay
    {
        get
        {
            string? text = Environment.GetEnvironmentVariable("TYCHE_SEED");
            return ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong seed) ? seed : null;
        }
    }

    /// <summary>
    /// <c>TYCHE_SEQUENCES</c> overrides the number of sequences; otherwise <paramref name="ci"/> when <c>CI=true</c> and
    /// <paramref name="local"/> outside CI.
    /// </summary>
    public static int Sequences(int ci, int local)
    {
        string? text = Environment.GetEnvironmentVariable("TYCHE_SEQUENCES");
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0)
        {
            return n;
        }

        return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? ci : local;
    }

    /// <summary>A fresh base seed per run (printed by the tests), or <c>TYCHE_BASE_SEED</c>.</summary>
    public static ulong BaseSeed()
    {
        string? text = Environment.GetEnvironmentVariable("TYCHE_BASE_SEED");
        if (ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong seed))
        {
            return seed;
        }

        return (ulong)Environment.TickCount64 * 0x9E3779B97F4A7C15UL ^ (ulong)Environment.ProcessId;
    }
}
