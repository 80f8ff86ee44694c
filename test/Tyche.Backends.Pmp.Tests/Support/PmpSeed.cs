// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>The seed of the PMP property tests: env TYCHE_PMP_SEED, else time-based; always printed for replay.</summary>
internal static class PmpSeed
{
    public static int Next(ITestOutputHelper output)
    {
        string? env = Environment.GetEnvironmentVariable("TYCHE_PMP_SEED");
        int seed = env is not null ? int.Parse(env, CultureInfo.InvariantCulture) : Environment.TickCount & 0x7fffffff;
        output.WriteLine($"seed {seed} (replay with TYCHE_PMP_SEED={seed})");
        return seed;
    }
}
