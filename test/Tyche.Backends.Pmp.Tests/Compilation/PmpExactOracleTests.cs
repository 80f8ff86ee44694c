// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>
/// The compiler's entry count against an exact optimum over ALL PMP register configurations (layered ones included:
/// an entry above a larger one, deny entries punching holes, a TOR bounded by a shadowing NA4/NAPOT entry's pmpaddr),
/// for every right map of 8 grains at G = 0 and G = 1 (see <see cref="PmpExactOracle"/>). The search goes to
/// <see cref="Depth"/> = 7 entries, where every one of the 6<sup>8</sup> maps has been reached, so the optimum is exact
/// for all of them. The oracle itself is cross-checked against the three-entry brute force of <c>PmpMinimalityTests</c>
/// (every map of optimum ≤ 3), and for a sample of maps (all of optimum ≤ 2, every 197th otherwise) by rebuilding a
/// witness configuration that the reference walker checks word by word, and by an independent depth-first search that
/// finds no configuration one entry smaller. The equality test
/// (<c>[Trait("Oracle", "CompilerEquality")]</c>) fails until the compiler emits layered encodings.
/// </summary>
public sealed class PmpExactOracleTests(ITestOutputHelper output)
{
    /// <summary>Entries searched by the oracle (the existing brute force stops at three).</summary>
    private const int Depth = 7;

    private const int PhysicalAddressBits = 56;

    /// <summary>Every n-th map (in enumeration order) gets a witness rebuilt and walked.</summary>
    private const int WitnessStride = 197;

    /// <summary>Maps with an optimum of at most this many entries all get a witness rebuilt and walked.</summary>
    private const int EveryWitnessUpTo = 2;

    /// <summary>Every n-th walked witness also gets the "nothing one entry smaller" depth-first search.</summary>
    private const int MinimalityStride = 5;

    /// <summary>How many mismatching maps (one per (optimum, compiler) pair) the equality test spells out with witnesses.</summary>
    private const int ReportedExamples = 16;

    private static readonly Lazy<PmpExactOracle>[] Oracles =
    [
        new(() => PmpExactOracle.Build(0, Depth)),
        new(() => PmpExactOracle.Build(1, Depth)),
    ];

    private static readonly Lazy<(int[] Keys, byte[] Counts)>[] CompilerCounts =
    [
        new(() => MeasureAll(0)),
        new(() => MeasureAll(1)),
    ];

    private static readonly AccessKind[] Kinds = [AccessKind.Read, AccessKind.Write, AccessKind.Execute];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Oracle_agrees_with_the_three_entry_brute_force(int granularity)
    {
        PmpExactOracle oracle = Oracles[granularity].Value;
        byte[] brute = PmpExactOracleBruteForce.MinimumEntries(granularity);
        Assert.Equal(0, oracle.SplitTransitions);

        var perLevel = new int[Depth + 2];
        int legal = 0;
        var legalKeys = new bool[1 << (PmpExactOracle.BitsPerGrain * PmpExactOracle.Grains)];
        foreach (int key in PmpExactOracle.AllMapKeys())
        {
            legalKeys[key] = true;
        }

        for (int key = 0; key < 1 << (PmpExactOracle.BitsPerGrain * PmpExactOracle.Grains); key++)
        {
            byte optimum = oracle.Optimum(key);
            if (!legalKeys[key])
            {
                // A grain with W but no R (or any other illegal code) is never produced by a legal configuration.
                if (optimum != PmpExactOracle.Unreached || brute[key] != byte.MaxValue)
                {
                    Assert.Fail($"illegal map {PmpExactOracle.FormatMap(key)} reached: oracle {optimum}, brute force {brute[key]}");
                }

                continue;
            }

            legal++;
            perLevel[Math.Min((int)optimum, Depth + 1)]++;
            bool inBruteForceRange = brute[key] <= PmpExactOracleBruteForce.MaxEntries || optimum <= PmpExactOracleBruteForce.MaxEntries;
            if (inBruteForceRange && brute[key] != optimum)
            {
                Assert.Fail($"G={granularity} map {PmpExactOracle.FormatMap(key)}: brute force {brute[key]}, oracle {optimum}");
            }
        }

        Assert.Equal((int)Math.Pow(PmpExactOracle.Rights.Length, PmpExactOracle.Grains), legal);
        Assert.Equal(1, perLevel[0]); // only the all-denied map needs no entry
        for (int level = 1; level <= Depth; level++)
        {
            Assert.True(perLevel[level] > 0, $"no map first appears at level {level}");
        }

        // Seven entries reach every map of eight grains, so the oracle is exact for all of them (no "more than Depth").
        Assert.Equal(0, perLevel[Depth + 1]);

        output.WriteLine($"G={granularity}: {oracle.OptionCount} options per entry, BFS to {Depth} entries in {oracle.SearchMilliseconds} ms (levels done at {string.Join(", ", oracle.LevelMilliseconds)} ms) " +
            $"(states per level {string.Join(", ", oracle.StatesPerLevel)}); maps by optimum: " +
            string.Join(", ", Enumerable.Range(0, Depth + 1).Select(l => $"{l}: {perLevel[l]}")) + $", >{Depth}: {perLevel[Depth + 1]}; " +
            $"agrees with the {PmpExactOracleBruteForce.MaxEntries}-entry brute force on every map.");
    }

    [Fact]
    public void Optimum_is_the_same_at_G0_and_G1()
    {
        // At grain level the two option sets match the same grain sets (G = 0: NA4 + NAPOT of 2..8 words; G = 1: NAPOT
        // of 1..8 grains), and every NA4/NAPOT pmpaddr, used as the next TOR's bound, lies inside its own block, so
        // the optimum per map cannot depend on G. The two searches decode different register values and must agree.
        Assert.True(Oracles[0].Value.Optima.SequenceEqual(Oracles[1].Value.Optima), "the G=0 and G=1 optimum tables differ");
        output.WriteLine("G=0 and G=1 give the same optimum for every map.");
    }

    [Fact]
    public void Unaligned_tor_values_taken_raw_as_qemu_does_change_no_optimum_up_to_three_entries()
    {
        // G = 1: the oracle follows the Privileged ISA (an OFF/TOR pmpaddr reads bit 0 as zero); QEMU and the reference
        // walker use the raw value, which lets a TOR end or begin in the middle of a grain. Up to three entries that
        // never gives a grain map a smaller encoding.
        PmpExactOracle oracle = Oracles[1].Value;
        byte[] raw = PmpExactOracleBruteForce.MinimumEntries(1, unalignedTorValues: true);
        int compared = 0;
        foreach (int key in PmpExactOracle.AllMapKeys())
        {
            byte optimum = oracle.Optimum(key);
            bool inRange = raw[key] <= PmpExactOracleBruteForce.MaxEntries || optimum <= PmpExactOracleBruteForce.MaxEntries;
            if (inRange && raw[key] != optimum)
            {
                Assert.Fail($"G=1 map {PmpExactOracle.FormatMap(key)}: raw (QEMU) semantics {raw[key]}, oracle {optimum}");
            }

            compared += inRange ? 1 : 0;
        }

        Assert.Equal(PmpExactOracle.AllMapKeys().Count(k => oracle.Optimum(k) <= PmpExactOracleBruteForce.MaxEntries), compared);
        output.WriteLine($"G=1: the raw-value brute force agrees with the oracle on all {compared} maps of up to three entries.");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Oracle_witnesses_hold_word_by_word_on_the_reference_walker(int granularity)
    {
        PmpExactOracle oracle = Oracles[granularity].Value;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long minimalityTicks = 0;
        int index = 0, walked = 0, provenMinimal = 0, beyondDepth = 0;
        var perLevel = new int[Depth + 1];
        foreach (int key in PmpExactOracle.AllMapKeys())
        {
            byte optimum = oracle.Optimum(key);
            if (index++ % WitnessStride != 0 && optimum > EveryWitnessUpTo)
            {
                continue;
            }

            if (optimum == PmpExactOracle.Unreached)
            {
                if (walked % MinimalityStride == 0)
                {
                    if (oracle.FindWitness(key, Depth) is not null)
                    {
                        Assert.Fail($"G={granularity} map {PmpExactOracle.FormatMap(key)}: the BFS says > {Depth} entries, the DFS found a witness");
                    }

                    beyondDepth++;
                }

                continue;
            }

            PmpExactOracleEntry[]? witness = oracle.FindWitness(key, optimum);
            if (witness is null)
            {
                Assert.Fail($"G={granularity} map {PmpExactOracle.FormatMap(key)}: optimum {optimum} but no witness found");
            }

            Assert.Equal(optimum, witness.Length);
            WalkWitness(oracle, key, witness);
            walked++;
            perLevel[optimum]++;
            if (optimum > 0 && walked % MinimalityStride == 0)
            {
                long t0 = clock.ElapsedTicks;
                if (oracle.FindWitness(key, optimum - 1) is not null)
                {
                    Assert.Fail($"G={granularity} map {PmpExactOracle.FormatMap(key)}: a configuration of {optimum - 1} entries exists, the BFS said {optimum}");
                }

                provenMinimal++;
                minimalityTicks += clock.ElapsedTicks - t0;
            }
        }

        Assert.True(walked > 10000 / Depth, $"only {walked} witnesses walked");
        for (int level = 1; level <= Depth; level++)
        {
            Assert.True(perLevel[level] > 0, $"no sampled witness of {level} entries");
        }

        output.WriteLine($"G={granularity}: {walked} witnesses rebuilt and walked word by word (by size: {string.Join(", ", perLevel)}); " +
            $"{provenMinimal} of them shown to have no smaller configuration and {beyondDepth} maps shown to need more than {Depth}, by the depth-first search; {clock.ElapsedMilliseconds} ms ({minimalityTicks * 1000 / System.Diagnostics.Stopwatch.Frequency} ms in the minimality searches).");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Compiler_never_uses_fewer_entries_than_the_exact_optimum(int granularity)
    {
        PmpExactOracle oracle = Oracles[granularity].Value;
        (int[] keys, byte[] counts) = CompilerCounts[granularity].Value;
        for (int i = 0; i < keys.Length; i++)
        {
            byte optimum = oracle.Optimum(keys[i]);
            bool consistent = optimum == PmpExactOracle.Unreached ? counts[i] > Depth : counts[i] >= optimum;
            if (!consistent)
            {
                Assert.Fail($"G={granularity} map {PmpExactOracle.FormatMap(keys[i])}: compiler {counts[i]} entries beats the exact optimum {Describe(optimum)} — the oracle or the compiler is wrong");
            }
        }

        output.WriteLine($"G={granularity}: on all {keys.Length} maps the compiler's count is at least the exact optimum over all encodings (up to {Depth} entries).");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Lower_bound_never_exceeds_the_exact_optimum(int granularity)
    {
        // The bound that lets the compiler skip the layered planner (change points − free bound − maximum matching of
        // block-shaped pairs) must hold for every encoding, so against the optimum over all of them on every map.
        PmpExactOracle oracle = Oracles[granularity].Value;
        var compiler = new PmpCompiler(new PmpHartOptions { Granularity = granularity, PhysicalAddressBits = PhysicalAddressBits });
        ulong grainBytes = 4UL << granularity;
        var ranges = new MemoryPermission[PmpExactOracle.Grains];
        int maps = 0, tight = 0;
        var gaps = new SortedDictionary<int, int>();
        foreach (int key in PmpExactOracle.AllMapKeys())
        {
            for (int g = 0; g < PmpExactOracle.Grains; g++)
            {
                ranges[g] = new MemoryPermission((ulong)g * grainBytes, (ulong)(g + 1) * grainBytes, (MemoryOperations)PmpExactOracle.GrainRights(key, g));
            }

            int bound = compiler.LowerBoundOf(ranges);
            byte optimum = oracle.Optimum(key);
            if (optimum == PmpExactOracle.Unreached || bound > optimum)
            {
                Assert.Fail($"G={granularity} map {PmpExactOracle.FormatMap(key)}: lower bound {bound}, exact optimum {Describe(optimum)}");
            }

            maps++;
            tight += bound == optimum ? 1 : 0;
            gaps[optimum - bound] = gaps.GetValueOrDefault(optimum - bound) + 1;
        }

        Assert.Equal((int)Math.Pow(PmpExactOracle.Rights.Length, PmpExactOracle.Grains), maps);
        output.WriteLine($"G={granularity}: the lower bound is at most the exact optimum on all {maps} maps and equal on {tight}; by (optimum − bound): " +
            string.Join(", ", gaps.Select(kv => $"{kv.Key}: {kv.Value}")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [Trait("Oracle", "CompilerEquality")]
    public void Compiler_uses_exactly_the_fewest_entries_of_any_encoding(int granularity)
    {
        PmpExactOracle oracle = Oracles[granularity].Value;
        (int[] keys, byte[] counts) = CompilerCounts[granularity].Value;
        var worse = new SortedDictionary<(int Optimum, int Compiler), int>();
        var examples = new List<int>();
        int better = 0;
        for (int i = 0; i < keys.Length; i++)
        {
            byte optimum = oracle.Optimum(keys[i]);
            int compiler = counts[i];
            bool equal = optimum == PmpExactOracle.Unreached ? compiler > Depth : compiler == optimum;
            if (equal)
            {
                continue;
            }

            if (optimum != PmpExactOracle.Unreached && compiler < optimum)
            {
                better++;
            }

            (int, int) bucket = (optimum == PmpExactOracle.Unreached ? Depth + 1 : optimum, compiler);
            int seen = worse.GetValueOrDefault(bucket);
            worse[bucket] = seen + 1;
            if (seen == 0 && examples.Count < ReportedExamples)
            {
                examples.Add(i); // the first map of each (optimum, compiler) pair
            }
        }

        int mismatches = worse.Values.Sum();
        output.WriteLine($"G={granularity}: {keys.Length} maps, {mismatches} where the compiler differs from the exact optimum ({better} where it claims fewer).");
        if (mismatches == 0)
        {
            return;
        }

        var message = new StringBuilder();
        message.Append(CultureInfo.InvariantCulture, $"G={granularity}: the compiler's entry count differs from the exact optimum over all encodings on {mismatches} of {keys.Length} maps");
        message.Append(CultureInfo.InvariantCulture, $" ({better} where it claims fewer, which would be a bug).\nBy (optimum, compiler): ");
        message.AppendJoin(", ", worse.Select(kv => string.Create(CultureInfo.InvariantCulture, $"({Describe(kv.Key.Optimum)}, {kv.Key.Compiler}): {kv.Value}")));
        foreach (int i in examples)
        {
            int key = keys[i];
            byte optimum = oracle.Optimum(key);
            message.Append(CultureInfo.InvariantCulture, $"\nmap {PmpExactOracle.FormatMap(key)}: compiler {counts[i]}, optimum {Describe(optimum)}");
            if (optimum != PmpExactOracle.Unreached)
            {
                PmpExactOracleEntry[] witness = oracle.FindWitness(key, optimum) ?? [];
                WalkWitness(oracle, key, witness);
                message.Append(", witness (entry 0 first, pmpaddr in words): ").AppendJoin("; ", witness);
            }
        }

        Assert.Fail(message.ToString());
    }

    private static string Describe(int optimum) => optimum > Depth ? $">{Depth}" : optimum.ToString(CultureInfo.InvariantCulture);

    /// <summary>The witness, as registers, gives exactly the map's rights on every word of the space and nothing past it (U and S mode).</summary>
    private static void WalkWitness(PmpExactOracle oracle, int key, PmpExactOracleEntry[] witness)
    {
        var addresses = new ulong[witness.Length];
        var configs = new byte[witness.Length];
        for (int i = 0; i < witness.Length; i++)
        {
            PmpConfigBits rights = witness[i].Config & PmpConfigBits.Permissions;
            if (!(Array.IndexOf(PmpExactOracle.Rights, rights) >= 0))
            {
                Assert.Fail($"illegal rights in {witness[i]}");
            }

            Assert.Equal(PmpConfigBits.None, witness[i].Config & PmpConfigBits.Locked);
            addresses[i] = witness[i].Address;
            configs[i] = (byte)witness[i].Config;
        }

        ulong end = PmpExactOracle.Grains * oracle.GrainBytes;
        for (ulong address = 0; address < end + (2 * oracle.GrainBytes); address += PmpEncoding.WordSize)
        {
            PmpConfigBits expected = address < end ? PmpExactOracle.GrainRights(key, (int)(address / oracle.GrainBytes)) : PmpConfigBits.None;
            foreach (AccessKind kind in Kinds)
            {
                PmpConfigBits needed = kind switch { AccessKind.Read => PmpConfigBits.Read, AccessKind.Write => PmpConfigBits.Write, _ => PmpConfigBits.Execute };
                foreach (PrivilegeMode mode in new[] { PrivilegeMode.User, PrivilegeMode.Supervisor })
                {
                    bool allowed = PmpReferenceWalker.Allows(addresses, configs, PhysicalAddressBits, address, (int)PmpEncoding.WordSize, kind, mode);
                    if ((expected & needed) != 0 != allowed)
                    {
                        Assert.Fail($"map {PmpExactOracle.FormatMap(key)}, witness {string.Join("; ", witness)}: {kind} at 0x{address:x} in {mode} mode is {(allowed ? "allowed" : "denied")}");
                    }
                }
            }
        }
    }

    private static (int[] Keys, byte[] Counts) MeasureAll(int granularity)
    {
        var compiler = new PmpCompiler(new PmpHartOptions { Granularity = granularity, PhysicalAddressBits = PhysicalAddressBits });
        ulong grainBytes = 4UL << granularity;
        var ranges = new MemoryPermission[PmpExactOracle.Grains];
        int[] keys = [.. PmpExactOracle.AllMapKeys()];
        var counts = new byte[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            for (int g = 0; g < PmpExactOracle.Grains; g++)
            {
                ranges[g] = new MemoryPermission((ulong)g * grainBytes, (ulong)(g + 1) * grainBytes, (MemoryOperations)PmpExactOracle.GrainRights(keys[i], g));
            }

            PmpCompileResult r = compiler.Measure(ranges);
            Assert.True(r.IsOk, r.ToString());
            counts[i] = (byte)r.EntriesNeeded;
        }

        return (keys, counts);
    }
}
