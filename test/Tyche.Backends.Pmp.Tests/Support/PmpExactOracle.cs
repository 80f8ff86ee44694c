// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>One PMP entry of a witness configuration: the raw <c>pmpaddr</c> value and the configuration byte.</summary>
/// <param name="Address">The <c>pmpaddr</c> value (address bits 55:2, so one unit is one four-byte word).</param>
/// <param name="Config">The <c>pmpcfg</c> byte: A field and R/W/X (never L, never W without R).</param>
internal readonly record struct PmpExactOracleEntry(ulong Address, PmpConfigBits Config)
{
    public override string ToString()
    {
        string mode = (Config & PmpConfigBits.AddressMask) switch
        {
            PmpConfigBits.AddressTor => "TOR",
            PmpConfigBits.AddressNa4 => "NA4",
            PmpConfigBits.AddressNapot => "NAPOT",
            _ => "OFF",
        };
        return string.Create(CultureInfo.InvariantCulture, $"{mode} pmpaddr=0x{Address:x} {PmpExactOracle.RightsName(Config & PmpConfigBits.Permissions)}");
    }
}

/// <summary>
/// An exact optimum oracle for PMP over a small address space: for every right map of <see cref="Grains"/> grains it
/// computes the fewest entries of ANY register configuration (OFF / TOR / NA4 / NAPOT entries, any in-range
/// <c>pmpaddr</c>, any legal rights) whose effective rights are exactly that map, up to <see cref="Depth"/> entries.
/// </summary>
/// <remarks>
/// <para>Semantics, written from the Privileged ISA §3.7.1 independently of the compiler: the lowest-numbered
/// matching entry decides; a TOR entry matches [pmpaddr<sub>i-1</sub>·4, pmpaddr<sub>i</sub>·4) with pmpaddr<sub>-1</sub> = 0
/// and matches nothing when that range is empty; NA4 matches the word pmpaddr·4 and is not selectable when G ≥ 1;
/// NAPOT decodes the trailing ones of pmpaddr (k ones → 2<sup>k+3</sup> bytes, naturally aligned). Granularity read-as
/// rules (§3.7.1.1): when G ≥ 1 an OFF/TOR entry's pmpaddr[G-1:0] read as zeros, when G ≥ 2 a NAPOT entry's
/// pmpaddr[G-2:0] read as ones; both the entry's own range and the next TOR's lower bound use the read value (as in
/// the Sail model's <c>pmpReadAddrReg</c>). Values that read back differently than written are skipped because they
/// are the same register state as the value they read as. Only entries inside the space are enumerated: a TOR top
/// above the space or a NAPOT block larger than it behaves inside the space exactly like the in-space option with
/// top = end or block = whole space (their pmpaddr, as a later TOR bound, lies inside the matched block either way).</para>
/// <para>Search (from the highest-priority entry down): a state is (the rights each grain already got from a
/// higher-priority entry, or "unclaimed"; the last entry's pmpaddr as the next TOR's lower bound). A new,
/// lower-priority entry only fills unclaimed grains of its match set; unclaimed grains at the end are denied. BFS by
/// entry count with a visited bit table; a map's optimum is the level at which it first appears. The lower bound is
/// kept canonical: the first unclaimed grain at or above it (grains below it inside a claimed block can no longer change).</para>
/// <para>Grains, not words, are the search cells. That is exact as long as no transition covers only part of an
/// unclaimed grain; every such transition is counted in <see cref="SplitTransitions"/> (the tests assert it is zero:
/// with the read-as rules every OFF/TOR bound is grain aligned and a NAPOT pmpaddr lies inside its own block).
/// QEMU and <see cref="PmpReferenceWalker"/> use an OFF/TOR pmpaddr raw, so at G ≥ 1 a TOR can end or begin inside
/// a grain there; for grain maps that never saves an entry (rounding such a bound to the grain edge on the side of
/// the word the TOR entry itself decides gives the same final rights), and a test checks it up to three entries.
/// Witnesses only use values that read back as written, so the raw and the read-as semantics agree on them.</para>
/// </remarks>
internal sealed class PmpExactOracle
{
    /// <summary>Grains in the address space (the search cells).</summary>
    public const int Grains = 8;

    /// <summary>Marks a map whose optimum is above <see cref="Depth"/>.</summary>
    public const byte Unreached = byte.MaxValue;

    /// <summary>Bits per grain in a map key: the R/W/X configuration bits (Privileged ISA §3.7.1: R bit 0, W bit 1, X bit 2).</summary>
    public const int BitsPerGrain = 3;

    /// <summary>The legal rights, in the order the existing brute force uses: none, R, X, RX, RW, RWX (never W without R).</summary>
    public static readonly PmpConfigBits[] Rights =
    [
        PmpConfigBits.None,
        PmpConfigBits.Read,
        PmpConfigBits.Execute,
        PmpConfigBits.Read | PmpConfigBits.Execute,
        PmpConfigBits.Read | PmpConfigBits.Write,
        PmpConfigBits.Read | PmpConfigBits.Write | PmpConfigBits.Execute,
    ];

    // A search state packs, per grain, a 3-bit claim code (0 = unclaimed, k = claimed with Rights[k - 1]) in bits
    // 3g..3g+2, and the canonical TOR lower bound (a grain index 0..Grains) above them.
    private const int CodeBits = BitsPerGrain;
    private const int CodeMask = (1 << CodeBits) - 1;
    private const int ClaimBits = Grains * CodeBits;
    private const int ClaimMask = (1 << ClaimBits) - 1;
    private const int LowerBoundBits = 4; // holds 0..Grains
    private const int StateBits = ClaimBits + LowerBoundBits;
    private const int HalfGrains = Grains / 2;
    private const int HalfBits = HalfGrains * CodeBits;
    private const int HalfMask = (1 << HalfBits) - 1;
    private const int NoneCode = 1; // claim code of Rights[0] (no access)
    private const int SplitFlag = 0x80; // in the canonical-bound table: the bound falls inside an unclaimed grain
    private const int BoundMask = SplitFlag - 1;

    /// <summary>Bit 0 of every grain's claim code; times 7 spreads a per-grain flag over the grain's three bits.</summary>
    private static readonly int FirstBitOfEachGrain = BuildFirstBitOfEachGrain();

    private readonly Option[] _options;
    private readonly byte[] _optimum = new byte[1 << ClaimBits];
    private readonly int _wordsPerGrain;
    private readonly int _words;
    private readonly int[] _halfMap = new int[1 << HalfBits];
    private readonly byte[] _halfClaimed = new byte[1 << HalfBits];
    private readonly byte[] _canonicalBound;
    private readonly long[] _statesPerLevel;
    private long _splitTransitions;
    private readonly List<long> _levelMilliseconds = [];

    private enum Kind : byte
    {
        Off,
        Tor,
        Block, // NA4 or NAPOT: a fixed word range
    }

    private readonly record struct Option(Kind Kind, int TopGrain, int Spread, int PartialGrains, int NextBoundWord, int CodePattern, PmpExactOracleEntry Entry);

    private PmpExactOracle(int granularity, int depth)
    {
        Granularity = granularity;
        Depth = depth;
        _wordsPerGrain = 1 << granularity;
        _words = Grains * _wordsPerGrain;
        _options = BuildOptions();
        _statesPerLevel = new long[depth + 1];
        for (int half = 0; half < _halfMap.Length; half++)
        {
            int perms = 0, claimed = 0;
            for (int g = 0; g < HalfGrains; g++)
            {
                int code = (half >> (CodeBits * g)) & CodeMask;
                if (code != 0 && code <= Rights.Length) // code 7 never occurs in a search state
                {
                    perms |= (int)Rights[code - 1] << (BitsPerGrain * g);
                    claimed |= 1 << g;
                }
            }

            _halfMap[half] = perms;
            _halfClaimed[half] = (byte)claimed;
        }

        _canonicalBound = new byte[(1 << Grains) * (_words + 1)];
        for (int claimed = 0; claimed < 1 << Grains; claimed++)
        {
            for (int word = 0; word <= _words; word++)
            {
                int grain = word / _wordsPerGrain;
                int flags = 0;
                if (word % _wordsPerGrain != 0)
                {
                    if ((claimed >> grain & 1) == 0)
                    {
                        flags = SplitFlag; // a TOR from here would cover only part of this unclaimed grain
                    }

                    grain++;
                }

                while (grain < Grains && (claimed >> grain & 1) != 0)
                {
                    grain++;
                }

                _canonicalBound[(claimed * (_words + 1)) + word] = (byte)(grain | flags);
            }
        }

        Array.Fill(_optimum, Unreached);
    }

    /// <summary>PMP granularity G: a grain is 2<sup>G+2</sup> bytes.</summary>
    public int Granularity { get; }

    /// <summary>The most entries searched.</summary>
    public int Depth { get; }

    /// <summary>Distinct register options for one entry (all modes, in-range pmpaddr values and rights, deduplicated by read value).</summary>
    public int OptionCount => _options.Length;

    /// <summary>Transitions that would cover only part of an unclaimed grain (the grain-cell search would then be inexact).</summary>
    public long SplitTransitions => _splitTransitions;

    /// <summary>Distinct search states first reached at each level (the last level is not stored).</summary>
    public IReadOnlyList<long> StatesPerLevel => _statesPerLevel;

    /// <summary>Elapsed search time at the end of each level.</summary>
    public IReadOnlyList<long> LevelMilliseconds => _levelMilliseconds;

    /// <summary>Wall-clock time of <see cref="Build"/>.</summary>
    public long SearchMilliseconds { get; private set; }

    /// <summary>Bytes per grain.</summary>
    public ulong GrainBytes => 4UL << Granularity;

    /// <summary>Runs the search.</summary>
    public static PmpExactOracle Build(int granularity, int depth)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var oracle = new PmpExactOracle(granularity, depth);
        oracle.Search();
        oracle.SearchMilliseconds = clock.ElapsedMilliseconds;
        return oracle;
    }

    /// <summary>The fewest entries giving exactly <paramref name="mapKey"/> (3 permission bits per grain, grain 0 lowest), or <see cref="Unreached"/> when above <see cref="Depth"/>.</summary>
    public byte Optimum(int mapKey) => _optimum[mapKey];

    /// <summary>The whole optimum table, indexed by map key.</summary>
    public ReadOnlySpan<byte> Optima => _optimum;

    /// <summary>Every legal map key (6<sup>8</sup> of them) in the enumeration order of the existing brute force.</summary>
    public static IEnumerable<int> AllMapKeys()
    {
        int maps = 1;
        for (int g = 0; g < Grains; g++)
        {
            maps *= Rights.Length;
        }

        for (int m = 0; m < maps; m++)
        {
            int rest = m, key = 0;
            for (int g = 0; g < Grains; g++)
            {
                key |= (int)Rights[rest % Rights.Length] << (BitsPerGrain * g);
                rest /= Rights.Length;
            }

            yield return key;
        }
    }

    /// <summary>The rights of grain <paramref name="grain"/> in a map key.</summary>
    public static PmpConfigBits GrainRights(int mapKey, int grain) => (PmpConfigBits)((mapKey >> (BitsPerGrain * grain)) & CodeMask);

    /// <summary>"RWX"-style name, "-" for none.</summary>
    public static string RightsName(PmpConfigBits rights)
    {
        if (rights == PmpConfigBits.None)
        {
            return "-";
        }

        var sb = new StringBuilder(3);
        if ((rights & PmpConfigBits.Read) != 0)
        {
            sb.Append('R');
        }

        if ((rights & PmpConfigBits.Write) != 0)
        {
            sb.Append('W');
        }

        if ((rights & PmpConfigBits.Execute) != 0)
        {
            sb.Append('X');
        }

        return sb.ToString();
    }

    /// <summary>The map as grain rights, lowest grain first, e.g. <c>[R R RW - X X - -]</c>.</summary>
    public static string FormatMap(int mapKey)
    {
        var parts = new string[Grains];
        for (int g = 0; g < Grains; g++)
        {
            parts[g] = RightsName(GrainRights(mapKey, g));
        }

        return string.Create(CultureInfo.InvariantCulture, $"0x{mapKey:x6} [{string.Join(' ', parts)}]");
    }

    /// <summary>
    /// A configuration of at most <paramref name="entries"/> entries (highest priority first) giving exactly the map, or
    /// null when none exists. An exhaustive depth-first search over the same option list that shares no table with the
    /// BFS: it prunes an entry as soon as it gives some grain other rights than the map's, and memoises failed states.
    /// </summary>
    public PmpExactOracleEntry[]? FindWitness(int mapKey, int entries)
    {
        int target = 0;
        for (int g = 0; g < Grains; g++)
        {
            target |= (Array.IndexOf(Rights, GrainRights(mapKey, g)) + 1) << (CodeBits * g);
        }

        var path = new Option[entries];
        var failed = new HashSet<long>();
        int found = Dfs(mapKey, target, 0, 0, 0, entries, path, failed);
        if (found < 0)
        {
            return null;
        }

        var result = new PmpExactOracleEntry[found];
        for (int i = 0; i < found; i++)
        {
            result[i] = path[i].Entry;
        }

        return result;
    }

    private int Dfs(int mapKey, int target, int claims, int bound, int used, int entries, Option[] path, HashSet<long> failed)
    {
        if (MapOf(claims) == mapKey)
        {
            return used;
        }

        if (used == entries || !failed.Add(((long)(entries - used) << StateBits) | ((long)bound << ClaimBits) | (uint)claims))
        {
            return -1;
        }

        // Admissible bound: each entry grants one rights value, so every distinct non-none right still owed to an
        // unclaimed grain needs an entry of its own.
        int owed = 0;
        for (int g = 0; g < Grains; g++)
        {
            int code = (target >> (CodeBits * g)) & CodeMask;
            if (((claims >> (CodeBits * g)) & CodeMask) == 0 && code != NoneCode)
            {
                owed |= 1 << code;
            }
        }

        if (used + System.Numerics.BitOperations.PopCount((uint)owed) > entries)
        {
            return -1;
        }

        int claimedSpread = ClaimedSpread(claims);
        foreach (Option o in _options)
        {
            int fill = FillSpread(o, bound) & ~claimedSpread;
            int next = claims | (o.CodePattern & fill);
            if ((next & fill) != (target & fill))
            {
                continue; // gives some grain rights the map does not have
            }

            int nextBound = _canonicalBound[(Claimed(next) * (_words + 1)) + o.NextBoundWord] & BoundMask;
            path[used] = o;
            int found = Dfs(mapKey, target, next, nextBound, used + 1, entries, path, failed);
            if (found >= 0)
            {
                return found;
            }
        }

        return -1;
    }

    private void Search()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var frontier = new List<int> { 0 }; // nothing claimed, entry 0's TOR bound is 0
        var visited = new ulong[(1L << StateBits) / 64];
        Option[] options = _options;
        byte[] canonicalBound = _canonicalBound;
        int boundRow = _words + 1;
        visited[0] = 1;
        _optimum[0] = 0;
        _statesPerLevel[0] = 1;
        for (int level = 1; level <= Depth; level++)
        {
            bool last = level == Depth;
            var next = new List<int>(last ? 0 : frontier.Count * 8);
            byte levelByte = (byte)level;

            // At the last level only the resulting map counts, and an NA4/NAPOT entry's result does not depend on the
            // bound: it is computed once per distinct claim set (states differing only in their bound share it).
            var blocksDone = last ? new ulong[(1 << ClaimBits) / 64] : null;
            foreach (int state in frontier)
            {
                int claims = state & ClaimMask;
                int bound = state >> ClaimBits;
                int claimedSpread = ClaimedSpread(claims);
                int claimed = Claimed(claims);
                bool skipBlocks = false;
                if (blocksDone is not null)
                {
                    ref ulong done = ref blocksDone[claims >> 6];
                    ulong doneBit = 1UL << (claims & 63);
                    skipBlocks = (done & doneBit) != 0;
                    done |= doneBit;
                }

                for (int i = 0; i < options.Length; i++)
                {
                    ref readonly Option o = ref options[i];
                    if (skipBlocks && o.Kind != Kind.Tor)
                    {
                        continue;
                    }

                    if ((o.PartialGrains & ~claimed) != 0)
                    {
                        _splitTransitions++;
                    }

                    int added = o.CodePattern & FillSpread(o, bound) & ~claimedSpread;
                    int newClaims = claims | added;
                    int newClaimed = claimed;
                    if (added != 0)
                    {
                        // Only a transition that claims something can give a new map.
                        newClaimed = Claimed(newClaims);
                        ref byte best = ref _optimum[MapOf(newClaims)];
                        if (best > levelByte)
                        {
                            best = levelByte;
                        }
                    }

                    if (last)
                    {
                        continue;
                    }

                    int canonical = canonicalBound[(newClaimed * boundRow) + o.NextBoundWord];
                    if ((canonical & SplitFlag) != 0)
                    {
                        _splitTransitions++;
                    }

                    int newState = newClaims | ((canonical & BoundMask) << ClaimBits);
                    ref ulong slot = ref visited[newState >> 6];
                    ulong bit = 1UL << (newState & 63);
                    if ((slot & bit) == 0)
                    {
                        slot |= bit;
                        next.Add(newState);
                    }
                }
            }

            _statesPerLevel[level] = next.Count;
            _levelMilliseconds.Add(clock.ElapsedMilliseconds);
            frontier = next;
        }
    }

    private int FillSpread(in Option o, int bound) => o.Kind switch
    {
        Kind.Tor => bound < o.TopGrain ? SpreadOfGrains(bound, o.TopGrain) : 0,
        Kind.Block => o.Spread,
        _ => 0,
    };

    private static int SpreadOfGrains(int from, int to) => ((1 << (CodeBits * to)) - 1) & ~((1 << (CodeBits * from)) - 1);

    private static int ClaimedSpread(int claims)
    {
        int flags = (claims | (claims >> 1) | (claims >> 2)) & FirstBitOfEachGrain;
        return flags * CodeMask;
    }

    private int Claimed(int claims) => _halfClaimed[claims & HalfMask] | (_halfClaimed[claims >> HalfBits] << HalfGrains);

    private int MapOf(int claims) => _halfMap[claims & HalfMask] | (_halfMap[claims >> HalfBits] << HalfBits);

    private static int BuildFirstBitOfEachGrain()
    {
        int pattern = 0;
        for (int g = 0; g < Grains; g++)
        {
            pattern |= 1 << (CodeBits * g);
        }

        return pattern;
    }

    // Read value of pmpaddr (Privileged ISA §3.7.1.1, granularity): OFF/TOR read bits G-1:0 as zeros (G ≥ 1), NAPOT reads bits G-2:0 as ones (G ≥ 2).
    private int ReadAsOffOrTor(int value) => value & ~(_wordsPerGrain - 1);

    private int ReadAsNapot(int value) => Granularity >= 2 ? value | ((1 << (Granularity - 1)) - 1) : value;

    private Option[] BuildOptions()
    {
        var list = new List<Option>();
        var seen = new HashSet<(Kind, int, int, int, int)>();
        void Add(Kind kind, int lowWord, int highWord, int nextBound, int rightsIndex, PmpExactOracleEntry entry)
        {
            int spread = 0, partial = 0, topGrain = 0;
            if (kind == Kind.Block)
            {
                for (int g = 0; g < Grains; g++)
                {
                    int gLow = g * _wordsPerGrain, gHigh = gLow + _wordsPerGrain;
                    if (lowWord <= gLow && gHigh <= highWord)
                    {
                        spread |= CodeMask << (CodeBits * g);
                    }
                    else if (lowWord < gHigh && gLow < highWord)
                    {
                        partial |= 1 << g;
                    }
                }
            }
            else if (kind == Kind.Tor)
            {
                if (highWord % _wordsPerGrain != 0)
                {
                    throw new InvalidOperationException("a TOR top must read as grain aligned");
                }

                topGrain = highWord / _wordsPerGrain;
            }

            int pattern = (rightsIndex + 1) * FirstBitOfEachGrain;
            if (seen.Add((kind, spread | partial << ClaimBits, topGrain, nextBound, kind == Kind.Off ? 0 : pattern)))
            {
                list.Add(new Option(kind, topGrain, spread, partial, nextBound, pattern, entry));
            }
        }

        for (int value = 0; value <= _words; value++)
        {
            if (ReadAsOffOrTor(value) != value)
            {
                continue; // the same register state as the value it reads as
            }

            Add(Kind.Off, 0, 0, value, 0, new PmpExactOracleEntry((ulong)value, PmpConfigBits.None));
            for (int r = 0; r < Rights.Length && value > 0; r++)
            {
                // TOR with top 0 matches nothing: it is OFF with pmpaddr 0, already listed.
                Add(Kind.Tor, 0, value, value, r, new PmpExactOracleEntry((ulong)value, PmpConfigBits.AddressTor | Rights[r]));
            }
        }

        for (int value = 0; value < _words; value++)
        {
            for (int r = 0; r < Rights.Length; r++)
            {
                if (Granularity == 0)
                {
                    Add(Kind.Block, value, value + 1, value, r, new PmpExactOracleEntry((ulong)value, PmpConfigBits.AddressNa4 | Rights[r]));
                }

                if (ReadAsNapot(value) != value)
                {
                    continue;
                }

                int ones = 0;
                while (((value >> ones) & 1) == 1)
                {
                    ones++;
                }

                int sizeWords = 1 << (ones + 1); // 2^(ones+3) bytes
                int baseWord = value & ~(sizeWords - 1);
                if (baseWord + sizeWords > _words)
                {
                    continue; // larger than the space: inside it, the same as the whole-space block listed separately
                }

                Add(Kind.Block, baseWord, baseWord + sizeWords, value, r, new PmpExactOracleEntry((ulong)value, PmpConfigBits.AddressNapot | Rights[r]));
            }
        }

        return [.. list];
    }
}
