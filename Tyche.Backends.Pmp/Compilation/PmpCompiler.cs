// SPDX-License-Identifier: Apache-2.0
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp;

/// <summary>
/// Compiles a domain's effective permission ranges into the fewest PMP entries for one hart configuration, below the
/// monitor's own entries, and computes the CSR writes of a switch.
/// </summary>
/// <remarks>
/// <para><b>Encoding.</b> Ranges are normalised first: the S right is dropped (PMP checks S and U mode alike,
/// Privileged ISA §3.7.1), W without R is narrowed to the same rights without W (the reserved R=0, W=1 encoding of
/// §3.7.1 is never produced; the engine itself never grants W without R), ranges without R/W/X are left unmatched
/// (denied to S/U), and adjacent ranges with equal rights are merged into runs. A first dynamic program encodes each
/// run as one NAPOT entry (naturally aligned power of two, ≥ 8 bytes, §3.7.1.1), one NA4 entry (4 bytes, only at
/// G = 0) or a TOR entry, whose lower bound is free when the previous run ends where this one starts and is also TOR
/// (a chain), or when the run starts at the address the last monitor entry leaves in <c>pmpaddr[m−1]</c> (0 for entry
/// 0), and otherwise costs an OFF entry holding it. That plan's entries match disjoint address sets.</para>
/// <para><b>Layering.</b> PMP matching is by priority (the lowest-numbered matching entry decides, §3.7.1), so a second,
/// layered planner (an interval dynamic program over the elementary segments, see <c>PmpCompiler.Layered.cs</c>) also
/// uses: an entry with other rights on top of a larger NAPOT/NA4/TOR entry (an RW page inside an R block); a deny entry
/// (A ≠ OFF, R=W=X=0) punching a hole into a larger entry (also across a gap between two runs); and a TOR entry whose
/// lower bound is the <c>pmpaddr</c> of the NAPOT/NA4 entry right before it, which lies inside that entry's block and is
/// shadowed by it (an X word then an R range: NA4 + TOR, no OFF entry). It runs only when the first plan exceeds a lower
/// bound (every colour change needs an entry end next to it, an entry supplies at most two; every colour needs an entry)
/// and is used only when strictly smaller, so layouts it cannot improve keep their encodings.</para>
/// <para><b>Minimality claim.</b> The layered planner is exact over its class: laminar (nested or disjoint) NAPOT/NA4
/// blocks and TOR pieces of any rights including none, each carving only inside its parent, TOR chains bounded by a
/// chain predecessor, an OFF entry, a NAPOT/NA4 entry ending at the chain's start or the last monitor entry, and every
/// entry ending at a boundary of the domain's runs. The tests compare the count with independent exhaustive searches over
/// every PMP register configuration, overlapping ones included, on an 8-grain address space at G = 0 and G = 1:
/// equal for all 1,679,616 right maps (every map needs at most 7 entries there, and the searches reach 7). That
/// every optimum lies in the class is proven by those searches only for that space, not in general. Inputs with more
/// than 64 merged runs are counted by the first planner alone (so one that only a layered plan would fit is refused
/// with the larger count).</para>
/// <para><b>Priority.</b> Monitor entries occupy indices 0..m−1 (highest priority, locked as configured); domain
/// entries follow in self-contained groups (an item with everything carved into it: inner entries first, then the item,
/// a TOR right after the entry holding its bound); groups match disjoint address sets, so their order is free, except
/// that a chain bounded by the last monitor entry must sit at index m. Unmatched addresses are denied to S/U mode
/// because at least one entry is implemented (§3.7.1.3).</para>
/// <para><b>Widths.</b> Every <c>pmpaddr</c> value is masked to <see cref="PmpHartOptions.PhysicalAddressBits"/>−2 bits, so
/// QEMU (which keeps stray high bits) and hardware (WARL zero) decode the same region. A NAPOT entry's <c>pmpaddr</c>
/// used as a TOR bound lies inside the NAPOT block whether or not a G ≥ 1 hart reads its low bits as ones or zeros,
/// so the visible regions do not depend on that choice.</para>
/// <para>An instance keeps scratch buffers (about 1.2 MB, allocated once) and is not thread-safe; compile on one
/// thread per instance.</para>
/// </remarks>
public sealed partial class PmpCompiler
{
    private const int Infinity = int.MaxValue / 4;
    private const byte FromNone = 0;
    private const byte FromTor = 1;
    private const byte FromNapot = 2;

    private readonly PmpHartOptions _options;
    private readonly ulong _grainMask;
    private readonly ulong _addressMask;
    private readonly ulong _addressLimit;
    private readonly PmpImage _monitorImage;
    private readonly int _monitorEntries;
    private readonly ulong _freeBound;

    // Scratch, sized for the architectural maximum so compiling never allocates.
    private readonly Run[] _runs = new Run[PmpEncoding.MaxEntries];
    private readonly byte[] _fromWhenTor = new byte[PmpEncoding.MaxEntries];
    private readonly byte[] _fromWhenNapot = new byte[PmpEncoding.MaxEntries];
    private readonly bool[] _asTor = new bool[PmpEncoding.MaxEntries];
    private readonly ulong[] _entryAddress = new ulong[PmpEncoding.MaxEntries];
    private readonly PmpConfigBits[] _entryConfig = new PmpConfigBits[PmpEncoding.MaxEntries];
    private readonly Group[] _groups = new Group[PmpEncoding.MaxEntries];
    private readonly bool[] _claimed = new bool[PmpEncoding.MaxEntries];
    private readonly int[] _placement = new int[PmpEncoding.MaxEntries];
    private readonly ulong[] _keep = new ulong[PmpEncoding.MaxEntries];
    private readonly PmpConfigBits[] _keepConfig = new PmpConfigBits[PmpEncoding.MaxEntries];
    private readonly ulong[] _altAddress = new ulong[PmpEncoding.MaxEntries];
    private readonly PmpConfigBits[] _altConfig = new PmpConfigBits[PmpEncoding.MaxEntries];
    private ulong _previousEnd; // end of the previous run during a Step sequence
    private bool _lastRunAsTor; // the last PlanRuns found its cheapest plan with the last run as TOR
    private bool _layered; // the last analysis chose the layered plan (PmpCompiler.Layered.cs)

    /// <summary>Whether the last <see cref="Measure"/> or <see cref="Compile"/> chose a layered plan (tests and statistics).</summary>
    internal bool LastPlanIsLayered => _layered;

    /// <summary>Creates a compiler for one hart configuration and the monitor's own regions.</summary>
    /// <param name="options">The hart (validated; copied).</param>
    /// <param name="monitorRegions">The monitor's memory, sorted and disjoint; compiled into the top-priority entries.</param>
    /// <exception cref="ArgumentException">The options are invalid, a monitor region is misaligned, W-without-R, out of range, or the monitor regions need every entry.</exception>
    public PmpCompiler(PmpHartOptions options, ReadOnlySpan<PmpMonitorRegion> monitorRegions = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.TryValidate(out string? error))
        {
            throw new ArgumentException(error, nameof(options));
        }

        _options = new PmpHartOptions
        {
            Xlen = options.Xlen,
            EntryCount = options.EntryCount,
            Granularity = options.Granularity,
            PhysicalAddressBits = options.PhysicalAddressBits,
            HasAddressTranslation = options.HasAddressTranslation,
            HasHypervisor = options.HasHypervisor,
        };
        _grainMask = (1UL << (options.Granularity + PmpEncoding.AddressShift)) - 1;
        _addressMask = (1UL << (options.PhysicalAddressBits - PmpEncoding.AddressShift)) - 1;
        _addressLimit = 1UL << options.PhysicalAddressBits;
        _monitorImage = new PmpImage(options.Xlen, options.EntryCount);

        // The monitor's regions go through the same planner, starting at entry 0 whose TOR lower bound is 0.
        int count = 0;
        ulong previousEnd = 0;
        for (int i = 0; i < monitorRegions.Length; i++)
        {
            PmpMonitorRegion r = monitorRegions[i];
            if (r.Start >= r.End || (i > 0 && r.Start < previousEnd))
            {
                throw new ArgumentException($"Monitor region [0x{r.Start:x}, 0x{r.End:x}) is empty or overlaps/precedes the previous one; give sorted disjoint regions.", nameof(monitorRegions));
            }

            if (PmpEncoding.IsReservedPermission(r.Permissions))
            {
                throw new ArgumentException($"Monitor region [0x{r.Start:x}, 0x{r.End:x}) asks for W without R, a reserved PMP encoding (Privileged ISA §3.7.1).", nameof(monitorRegions));
            }

            if (((r.Start | r.End) & _grainMask) != 0 || r.End > _addressLimit)
            {
                throw new ArgumentException($"Monitor region [0x{r.Start:x}, 0x{r.End:x}) is not aligned to the 0x{_grainMask + 1:x}-byte grain or exceeds the {options.PhysicalAddressBits}-bit address space.", nameof(monitorRegions));
            }

            if (count >= _runs.Length)
            {
                throw new ArgumentException("Too many monitor regions.", nameof(monitorRegions));
            }

            PmpConfigBits cfg = (r.Permissions & PmpConfigBits.Permissions) | (r.Locked ? PmpConfigBits.Locked : PmpConfigBits.None);
            _runs[count++] = new Run(r.Start, r.End, cfg);
            previousEnd = r.End;
        }

        int needed = PlanRuns(count, freeBound: 0, out PmpStatus status, out int badRun);
        if (status != PmpStatus.Ok)
        {
            Run bad = _runs[badRun];
            throw new ArgumentException($"Monitor region [0x{bad.Start:x}, 0x{bad.End:x}) cannot be expressed by PMP on this hart.", nameof(monitorRegions));
        }

        if (needed >= options.EntryCount)
        {
            throw new ArgumentException($"The monitor regions need {needed} PMP entries; the hart has {options.EntryCount}, leaving none for domains.", nameof(monitorRegions));
        }

        int entries = BuildEntries(count, freeBound: 0, out int groups);
        LayOut(_monitorImage, 0, groups);
        _monitorEntries = entries;
        _freeBound = entries == 0 ? 0 : (_monitorImage.GetAddress(entries - 1) << PmpEncoding.AddressShift);
    }

    /// <summary>The hart this compiler targets (a copy; changing it has no effect).</summary>
    public PmpHartOptions Options => new()
    {
        Xlen = _options.Xlen,
        EntryCount = _options.EntryCount,
        Granularity = _options.Granularity,
        PhysicalAddressBits = _options.PhysicalAddressBits,
        HasAddressTranslation = _options.HasAddressTranslation,
        HasHypervisor = _options.HasHypervisor,
    };

    /// <summary>Implemented entries.</summary>
    public int EntryCount => _options.EntryCount;

    /// <summary>Entries used by the monitor's regions (indices 0..<see cref="MonitorEntryCount"/>−1).</summary>
    public int MonitorEntryCount => _monitorEntries;

    /// <summary>Entries left to a domain.</summary>
    public int DomainEntryCapacity => _options.EntryCount - _monitorEntries;

    /// <summary>The most CSR writes one switch can need: every domain <c>pmpaddr</c> plus every <c>pmpcfg</c> register.</summary>
    public int MaxSwitchWrites => DomainEntryCapacity + _monitorImage.ConfigRegisterCount;

    /// <summary>The fence required after any PMP CSR write on this hart (Privileged ISA §3.7.2).</summary>
    public PmpFence RequiredFence =>
        (_options.HasAddressTranslation ? PmpFence.SfenceVma : PmpFence.None) | (_options.HasHypervisor ? PmpFence.HfenceGvma : PmpFence.None);

    /// <summary>The monitor's entries with every domain entry OFF: the image of a hart before any domain runs (and of a domain with no memory).</summary>
    /// <returns>A new image.</returns>
    public PmpImage CreateImage()
    {
        var image = new PmpImage(_options.Xlen, _options.EntryCount);
        _monitorImage.CopyTo(image);
        return image;
    }

    /// <summary>Counts the entries <paramref name="ranges"/> need without writing anything (admission).</summary>
    /// <param name="ranges">The domain's effective permissions, sorted and disjoint (as <c>CapabilityEngine.TryGetPermissions</c> returns them).</param>
    /// <returns>Status <see cref="PmpStatus.TooManyEntries"/> with needed/available counts when they do not fit.</returns>
    public PmpCompileResult Measure(ReadOnlySpan<MemoryPermission> ranges) => Analyze(ranges, out _);

    /// <summary>
    /// Compiles <paramref name="ranges"/> into <paramref name="destination"/>: monitor entries, then the fewest domain
    /// entries, the rest OFF. With <paramref name="previous"/> (the domain's or hart's current image), unchanged entry
    /// groups keep their indices so that a change of one region costs the fewest CSR writes.
    /// </summary>
    /// <param name="ranges">The domain's effective permissions, sorted and disjoint.</param>
    /// <param name="destination">The image to overwrite; untouched unless the status is <see cref="PmpStatus.Ok"/>.</param>
    /// <param name="previous">Optional image to stay close to; may be the same object as <paramref name="destination"/>.</param>
    /// <returns>The outcome with needed and available entry counts.</returns>
    public PmpCompileResult Compile(ReadOnlySpan<MemoryPermission> ranges, PmpImage destination, PmpImage? previous = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (!HasShape(destination) || (previous is not null && !HasShape(previous)))
        {
            return new PmpCompileResult(PmpStatus.ShapeMismatch, 0, DomainEntryCapacity);
        }

        PmpCompileResult result = Analyze(ranges, out int runCount);
        if (!result.IsOk)
        {
            return result;
        }

        int groups;
        int entries = _layered ? EmitLayered(out groups) : BuildEntries(runCount, _freeBound, out groups);
        Place(destination, previous, groups);
        return new PmpCompileResult(PmpStatus.Ok, entries, DomainEntryCapacity);
    }

    private PmpCompileResult Analyze(ReadOnlySpan<MemoryPermission> ranges, out int runCount)
    {
        _layered = false;
        PmpStatus status = Normalize(ranges, out runCount, out ulong badStart, out ulong badEnd);
        if (status != PmpStatus.Ok)
        {
            return new PmpCompileResult(status, 0, DomainEntryCapacity, badStart, badEnd);
        }

        int needed;
        if (runCount > _runs.Length)
        {
            needed = CountStreaming(ranges, out badStart, out badEnd);
            if (needed >= Infinity)
            {
                return new PmpCompileResult(PmpStatus.AddressOutOfRange, 0, DomainEntryCapacity, badStart, badEnd);
            }
        }
        else
        {
            needed = PlanRuns(runCount, _freeBound, out status, out int bad);
            if (status != PmpStatus.Ok)
            {
                return new PmpCompileResult(status, 0, DomainEntryCapacity, _runs[bad].Start, _runs[bad].End);
            }

            // Priority layering can only help when the non-overlapping plan is above the lower bound; it is used only
            // when strictly smaller, so layouts it cannot improve keep their encodings (and one-write rights changes).
            if (!LowerBoundReaches(runCount, needed))
            {
                int layered = PlanLayeredOnce(runCount);
                if (layered < needed)
                {
                    needed = layered;
                    _layered = true;
                }
            }
        }

        return needed > DomainEntryCapacity
            ? new PmpCompileResult(PmpStatus.TooManyEntries, needed, DomainEntryCapacity)
            : new PmpCompileResult(PmpStatus.Ok, needed, DomainEntryCapacity);
    }

    /// <summary>
    /// The CSR writes that turn a hart holding <paramref name="current"/> into one enforcing <paramref name="target"/>,
    /// fewest first: a <c>pmpaddr</c> only when it differs and matters (its entry is active, or it bounds a TOR entry),
    /// each <c>pmpcfg</c> register only when one of its bytes differs. Addresses come first, configuration registers
    /// last (Privileged ISA §3.7.1: write the address before enabling the entry); monitor entries are never written.
    /// </summary>
    /// <param name="current">What the hart's registers hold now.</param>
    /// <param name="target">The image to enforce (e.g. the next domain's).</param>
    /// <param name="destination">Receives the writes; <see cref="MaxSwitchWrites"/> always suffices.</param>
    /// <param name="written">Number of writes.</param>
    /// <param name="fence">The fence to execute after the writes (<see cref="PmpFence.None"/> when nothing is written).</param>
    /// <returns><see cref="PmpStatus.Ok"/>, <see cref="PmpStatus.ShapeMismatch"/> or <see cref="PmpStatus.DestinationTooSmall"/> (nothing written).</returns>
    public PmpStatus GetSwitchWrites(PmpImage current, PmpImage target, Span<PmpCsrWrite> destination, out int written, out PmpFence fence)
    {
        ArgumentNullException.ThrowIfNull(current);
        return GetWrites(current, target, destination, out written, out fence);
    }

    /// <summary>
    /// The CSR writes that load <paramref name="target"/> on a hart whose registers are unknown (first load, after reset
    /// or firmware): every domain <c>pmpaddr</c> that matters and every <c>pmpcfg</c> register.
    /// </summary>
    /// <param name="target">The image to enforce.</param>
    /// <param name="destination">Receives the writes; <see cref="MaxSwitchWrites"/> always suffices.</param>
    /// <param name="written">Number of writes.</param>
    /// <param name="fence">The fence to execute after the writes.</param>
    /// <returns><see cref="PmpStatus.Ok"/>, <see cref="PmpStatus.ShapeMismatch"/> or <see cref="PmpStatus.DestinationTooSmall"/> (nothing written).</returns>
    public PmpStatus GetLoadWrites(PmpImage target, Span<PmpCsrWrite> destination, out int written, out PmpFence fence) =>
        GetWrites(null, target, destination, out written, out fence);

    private PmpStatus GetWrites(PmpImage? current, PmpImage target, Span<PmpCsrWrite> destination, out int written, out PmpFence fence)
    {
        ArgumentNullException.ThrowIfNull(target);
        written = 0;
        fence = PmpFence.None;
        if ((current is not null && !HasShape(current)) || !HasShape(target))
        {
            return PmpStatus.ShapeMismatch;
        }

        int n = EntryCount;
        int count = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            // Pass 0 counts, pass 1 writes: a short destination leaves it untouched.
            if (pass == 1)
            {
                if (destination.Length < count)
                {
                    return PmpStatus.DestinationTooSmall;
                }

                count = 0;
            }

            for (int i = _monitorEntries; i < n; i++)
            {
                ulong value = target.GetAddress(i);
                if ((current is not null && value == current.GetAddress(i)) || !AddressMatters(target, i))
                {
                    continue;
                }

                if (pass == 1)
                {
                    destination[count] = new PmpCsrWrite(PmpEncoding.AddressCsr(i), value);
                }

                count++;
            }

            for (int r = 0; r < target.ConfigRegisterCount; r++)
            {
                ulong value = target.GetConfigRegister(r);
                if (current is not null && value == current.GetConfigRegister(r))
                {
                    continue;
                }

                if (pass == 1)
                {
                    destination[count] = new PmpCsrWrite(target.GetConfigRegisterCsr(r), value);
                }

                count++;
            }
        }

        written = count;
        fence = count == 0 ? PmpFence.None : RequiredFence;
        return PmpStatus.Ok;
    }

    /// <summary>Applies CSR writes to a shadow image, as the hart would (locked entries ignore writes, Privileged ISA §3.7.1.2).</summary>
    /// <param name="image">The shadow of the hart's registers.</param>
    /// <param name="writes">The writes, in order.</param>
    public void ApplyWrites(PmpImage image, ReadOnlySpan<PmpCsrWrite> writes)
    {
        ArgumentNullException.ThrowIfNull(image);
        int per = PmpEncoding.EntriesPerConfigRegister(image.Xlen);
        foreach (PmpCsrWrite w in writes)
        {
            if (w.Csr >= PmpEncoding.PmpAddr0Csr)
            {
                int i = w.Csr - PmpEncoding.PmpAddr0Csr;
                bool locked = (image.GetConfig(i) & PmpConfigBits.Locked) != 0
                    || (i + 1 < image.EntryCount && (image.GetConfig(i + 1) & PmpConfigBits.Locked) != 0 && PmpEncoding.GetMatching(image.GetConfig(i + 1)) == PmpAddressMatching.Tor);
                if (i < image.EntryCount && !locked)
                {
                    image.Addresses[i] = w.Value & _addressMask;
                }

                continue;
            }

            int cfgIndex = w.Csr - PmpEncoding.PmpCfg0Csr;
            int register = image.Xlen == PmpXlen.Rv64 ? cfgIndex / 2 : cfgIndex;
            for (int b = 0; b < per; b++)
            {
                int entry = (register * per) + b;
                if (entry < image.EntryCount && (image.GetConfig(entry) & PmpConfigBits.Locked) == 0)
                {
                    image.Configs[entry] = (PmpConfigBits)(byte)(w.Value >> (b * PmpEncoding.BitsPerConfigByte));
                }
            }
        }
    }

    private static bool AddressMatters(PmpImage image, int i) =>
        AddressMatters(image.GetConfig(i), i + 1 < image.EntryCount ? image.GetConfig(i + 1) : PmpConfigBits.None);

    /// <summary>Whether an entry's pmpaddr is observable: the entry matches, or the next entry (None past the last) is TOR and takes it as its bound.</summary>
    private static bool AddressMatters(PmpConfigBits config, PmpConfigBits next) =>
        PmpEncoding.GetMatching(config) != PmpAddressMatching.Off || PmpEncoding.GetMatching(next) == PmpAddressMatching.Tor;

    private bool HasShape(PmpImage image) => image.EntryCount == _options.EntryCount && image.Xlen == _options.Xlen;

    private static PmpConfigBits ToPermissions(MemoryOperations operations)
    {
        PmpConfigBits bits = PmpConfigBits.None;
        if ((operations & MemoryOperations.Read) != 0)
        {
            bits |= PmpConfigBits.Read;

            // W is only kept together with R: R=0, W=1 is reserved (Privileged ISA §3.7.1), so W alone is narrowed away.
            if ((operations & MemoryOperations.Write) != 0)
            {
                bits |= PmpConfigBits.Write;
            }
        }

        if ((operations & MemoryOperations.Execute) != 0)
        {
            bits |= PmpConfigBits.Execute;
        }

        return bits;
    }

    /// <summary>Validates the ranges and stores the merged runs (up to the scratch size; runCount keeps counting beyond it).</summary>
    private PmpStatus Normalize(ReadOnlySpan<MemoryPermission> ranges, out int runCount, out ulong badStart, out ulong badEnd)
    {
        runCount = 0;
        badStart = 0;
        badEnd = 0;
        ulong previousEnd = 0;
        Run pending = default;
        bool hasPending = false;
        for (int i = 0; i < ranges.Length; i++)
        {
            MemoryPermission p = ranges[i];
            if (p.Start >= p.End || (i > 0 && p.Start < previousEnd))
            {
                badStart = p.Start;
                badEnd = p.End;
                return PmpStatus.InvalidRanges;
            }

            previousEnd = p.End;
            PmpConfigBits perms = ToPermissions(p.Operations);
            if (perms == PmpConfigBits.None)
            {
                continue;
            }

            if (((p.Start | p.End) & _grainMask) != 0)
            {
                badStart = p.Start;
                badEnd = p.End;
                return PmpStatus.Misaligned;
            }

            if (p.End > _addressLimit)
            {
                badStart = p.Start;
                badEnd = p.End;
                return PmpStatus.AddressOutOfRange;
            }

            if (hasPending && pending.End == p.Start && pending.Config == perms)
            {
                pending = new Run(pending.Start, p.End, perms);
                continue;
            }

            if (hasPending)
            {
                StoreRun(ref runCount, pending);
            }

            pending = new Run(p.Start, p.End, perms);
            hasPending = true;
        }

        if (hasPending)
        {
            StoreRun(ref runCount, pending);
        }

        return PmpStatus.Ok;
    }

    private void StoreRun(ref int runCount, Run run)
    {
        if (runCount < _runs.Length)
        {
            _runs[runCount] = run;
        }

        runCount++;
    }

    /// <summary>Entry count for inputs with more runs than the scratch holds (always too many; counted exactly for the error).</summary>
    private int CountStreaming(ReadOnlySpan<MemoryPermission> ranges, out ulong badStart, out ulong badEnd)
    {
        badStart = 0;
        badEnd = 0;
        int costTor = Infinity;
        int costNapot = 0;
        bool hasPrevious = false;
        Run pending = default;
        bool hasPending = false;
        for (int i = 0; i <= ranges.Length; i++)
        {
            Run next = default;
            bool haveNext = false;
            if (i < ranges.Length)
            {
                PmpConfigBits perms = ToPermissions(ranges[i].Operations);
                if (perms == PmpConfigBits.None)
                {
                    continue;
                }

                next = new Run(ranges[i].Start, ranges[i].End, perms);
                haveNext = true;
                if (hasPending && pending.End == next.Start && pending.Config == perms)
                {
                    pending = new Run(pending.Start, next.End, perms);
                    continue;
                }
            }

            if (hasPending && !Step(pending, ref costTor, ref costNapot, ref hasPrevious, out _, out _, _freeBound))
            {
                badStart = pending.Start;
                badEnd = pending.End;
                return Infinity;
            }

            pending = next;
            hasPending = haveNext;
        }

        return Math.Min(costTor, costNapot);
    }

    /// <summary>One step of the dynamic program: the cheapest total when this run ends as TOR and as NAPOT/NA4.</summary>
    private bool Step(Run run, ref int costTor, ref int costNapot, ref bool hasPrevious, out byte fromTor, out byte fromNapot, ulong freeBound)
    {
        bool adjacent = hasPrevious && _previousEnd == run.Start;
        int boundCost = run.Start == freeBound ? 0 : 1;
        int newTor = Infinity;
        int newNapot = Infinity;
        fromTor = FromNone;
        fromNapot = FromNone;
        // Ties prefer a NAPOT/NA4 predecessor everywhere (as the final choice does), so a run's encoding never depends
        // on unrelated later runs: appending a distant region leaves every earlier entry as it was.
        if (IsSingleEntryShape(run.Start, run.End))
        {
            bool viaTor = costTor < costNapot;
            newNapot = (viaTor ? costTor : costNapot) + 1;
            fromNapot = viaTor ? FromTor : FromNapot;
        }

        // TOR's top must fit: pmpaddr holds end >> 2 within the implemented width.
        if ((run.End >> PmpEncoding.AddressShift) <= _addressMask)
        {
            int chained = costTor + (adjacent ? 0 : boundCost);
            int fresh = costNapot + boundCost;
            bool viaTor = chained < fresh;
            newTor = (viaTor ? chained : fresh) + 1;
            fromTor = viaTor ? FromTor : FromNapot;
        }

        costTor = newTor;
        costNapot = newNapot;
        hasPrevious = true;
        _previousEnd = run.End;
        return newTor < Infinity || newNapot < Infinity;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsSingleEntryShape(ulong start, ulong end)
    {
        ulong size = end - start;
        if (size == PmpEncoding.WordSize)
        {
            return _options.Granularity == 0; // NA4 does not exist for G ≥ 1 (Privileged ISA §3.7.1.1).
        }

        return size >= PmpEncoding.MinNapotSize && BitOperations.IsPow2(size) && (start & (size - 1)) == 0;
    }

    /// <summary>
    /// Runs the dynamic program over the stored runs (at most <c>_runs.Length</c>) and records each run's predecessor
    /// choices; <see cref="BuildEntries"/> walks them back when it needs the encodings (a layered plan or a count never does).
    /// </summary>
    private int PlanRuns(int runCount, ulong freeBound, out PmpStatus status, out int badRun)
    {
        int costTor = Infinity;
        int costNapot = 0;
        bool hasPrevious = false;
        status = PmpStatus.Ok;
        badRun = 0;
        ref Run runs = ref MemoryMarshal.GetArrayDataReference(_runs);
        ref byte fromWhenTor = ref MemoryMarshal.GetArrayDataReference(_fromWhenTor);
        ref byte fromWhenNapot = ref MemoryMarshal.GetArrayDataReference(_fromWhenNapot);
        for (int i = 0; i < runCount; i++)
        {
            if (!Step(Unsafe.Add(ref runs, i), ref costTor, ref costNapot, ref hasPrevious, out Unsafe.Add(ref fromWhenTor, i), out Unsafe.Add(ref fromWhenNapot, i), freeBound))
            {
                status = PmpStatus.AddressOutOfRange;
                badRun = i;
                return 0;
            }
        }

        _lastRunAsTor = costTor < costNapot;
        return Math.Min(costTor, costNapot);
    }

    /// <summary>Records, per run of the last <see cref="PlanRuns"/>, whether the chosen plan encodes it as TOR.</summary>
    private void ChooseEncodings(int runCount)
    {
        bool tor = _lastRunAsTor;
        for (int i = runCount - 1; i >= 0; i--)
        {
            _asTor[i] = tor;
            tor = (tor ? _fromWhenTor[i] : _fromWhenNapot[i]) == FromTor;
        }
    }

    /// <summary>Turns the planned runs into entries grouped so that each group is self-contained (its TOR bounds inside it).</summary>
    private int BuildEntries(int runCount, ulong freeBound, out int groupCount)
    {
        ChooseEncodings(runCount);
        int entries = 0;
        groupCount = 0;
        int freeGroup = -1;
        for (int i = 0; i < runCount; i++)
        {
            Run run = _runs[i];
            if (!_asTor[i])
            {
                ulong size = run.End - run.Start;
                bool na4 = size == PmpEncoding.WordSize;
                _entryAddress[entries] = (na4 ? run.Start >> PmpEncoding.AddressShift : PmpEncoding.EncodeNapot(run.Start, size)) & _addressMask;
                _entryConfig[entries] = PmpEncoding.MakeConfig(na4 ? PmpAddressMatching.Na4 : PmpAddressMatching.Napot, run.Config, (run.Config & PmpConfigBits.Locked) != 0);
                _groups[groupCount++] = new Group(entries, 1);
                entries++;
                continue;
            }

            bool chained = i > 0 && _asTor[i - 1] && _runs[i - 1].End == run.Start;
            if (chained)
            {
                _groups[groupCount - 1] = new Group(_groups[groupCount - 1].First, _groups[groupCount - 1].Length + 1);
            }
            else if (run.Start == freeBound)
            {
                freeGroup = groupCount;
                _groups[groupCount++] = new Group(entries, 1);
            }
            else
            {
                // An OFF entry holding the lower bound (Privileged ISA §3.7.1.1: TOR uses pmpaddr[i-1]; the OFF entry matches nothing).
                _entryAddress[entries] = (run.Start >> PmpEncoding.AddressShift) & _addressMask;
                _entryConfig[entries] = run.Config & PmpConfigBits.Locked;
                entries++;
                _groups[groupCount++] = new Group(entries - 1, 2);
            }

            _entryAddress[entries] = (run.End >> PmpEncoding.AddressShift) & _addressMask;
            _entryConfig[entries] = PmpEncoding.MakeConfig(PmpAddressMatching.Tor, run.Config, (run.Config & PmpConfigBits.Locked) != 0);
            entries++;
        }

        // The group whose bound is the preceding (monitor) entry's address must come first.
        if (freeGroup > 0)
        {
            Group g = _groups[freeGroup];
            for (int k = freeGroup; k > 0; k--)
            {
                _groups[k] = _groups[k - 1];
            }

            _groups[0] = g;
        }

        if (freeGroup >= 0)
        {
            _groups[0] = new Group(_groups[0].First, _groups[0].Length, true);
        }

        return entries;
    }

    /// <summary>Writes monitor entries and the planned groups into <paramref name="destination"/>, reusing slots of <paramref name="previous"/> where possible.</summary>
    private void Place(PmpImage destination, PmpImage? previous, int groupCount)
    {
        int m = _monitorEntries;
        int n = EntryCount;
        if (previous is null || !TryPlaceStable(previous, groupCount))
        {
            LayOut(destination, m, groupCount);
            return;
        }

        // Unused slots keep the previous address (don't-care once OFF), so they never cost a CSR write.
        Span<ulong> addresses = destination.Addresses;
        Span<PmpConfigBits> configs = destination.Configs;
        previous.Addresses.CopyTo(_keep); // before destination is written: they may be the same image
        previous.Configs.CopyTo(_keepConfig);
        KeepLayout(addresses, configs);
        for (int g = 0; g < groupCount; g++)
        {
            Group group = _groups[g];
            CopyGroup(group, addresses, configs, _placement[g]);
        }

        // Keeping groups in place is greedy; when the groups simply laid out in order (unused slots again keeping the
        // previous addresses) need fewer writes, e.g. after a layered group changed inside, take that instead.
        int stable = CountWrites(addresses, configs);
        Span<ulong> altAddresses = _altAddress.AsSpan(0, n);
        Span<PmpConfigBits> altConfigs = _altConfig.AsSpan(0, n);
        KeepLayout(altAddresses, altConfigs);
        int position = m;
        for (int g = 0; g < groupCount; g++)
        {
            Group group = _groups[g];
            CopyGroup(group, altAddresses, altConfigs, position);
            position += group.Length;
        }

        if (CountWrites(altAddresses, altConfigs) < stable)
        {
            altAddresses.CopyTo(addresses);
            altConfigs.CopyTo(configs);
        }
    }

    /// <summary>Copies a group's entries to <paramref name="at"/> (entry by entry: groups are short, a block copy's call costs more).</summary>
    private void CopyGroup(Group group, Span<ulong> addresses, Span<PmpConfigBits> configs, int at)
    {
        for (int k = 0; k < group.Length; k++)
        {
            addresses[at + k] = _entryAddress[group.First + k];
            configs[at + k] = _entryConfig[group.First + k];
        }
    }

    /// <summary>The monitor entries, then every domain slot OFF with the previous address from <c>_keep</c> (a don't-care that costs no write).</summary>
    private void KeepLayout(Span<ulong> addresses, Span<PmpConfigBits> configs)
    {
        int m = _monitorEntries;
        _monitorImage.Addresses[..m].CopyTo(addresses);
        _keep.AsSpan(m, addresses.Length - m).CopyTo(addresses[m..]);
        _monitorImage.Configs[..m].CopyTo(configs);
        configs[m..].Clear(); // PmpConfigBits.None: OFF
    }

    /// <summary>The writes <see cref="GetSwitchWrites"/> would emit from the snapshot in <c>_keep</c>/<c>_keepConfig</c> to the given layout.</summary>
    private int CountWrites(ReadOnlySpan<ulong> addresses, ReadOnlySpan<PmpConfigBits> configs)
    {
        int n = EntryCount;
        int count = 0;
        for (int i = _monitorEntries; i < n; i++)
        {
            if (AddressMatters(configs[i], i + 1 < n ? configs[i + 1] : PmpConfigBits.None) && addresses[i] != _keep[i])
            {
                count++;
            }
        }

        int per = PmpEncoding.EntriesPerConfigRegister(_options.Xlen);
        for (int first = 0; first < n; first += per)
        {
            for (int i = first; i < first + per && i < n; i++)
            {
                if (configs[i] != _keepConfig[i])
                {
                    count++;
                    break;
                }
            }
        }

        return count;
    }

    /// <summary>Canonical layout: monitor entries, then the groups in order from <paramref name="first"/>, then OFF entries with address 0.</summary>
    private void LayOut(PmpImage destination, int first, int groupCount)
    {
        Span<ulong> addresses = destination.Addresses;
        Span<PmpConfigBits> configs = destination.Configs;
        _monitorImage.Addresses[..first].CopyTo(addresses);
        _monitorImage.Configs[..first].CopyTo(configs);
        addresses[first..].Clear();
        configs[first..].Clear(); // PmpConfigBits.None: OFF
        int position = first;
        for (int g = 0; g < groupCount; g++)
        {
            Group group = _groups[g];
            CopyGroup(group, addresses, configs, position);
            position += group.Length;
        }
    }

    /// <summary>Keeps every group that already sits somewhere in <paramref name="previous"/> at its index, then first-fits the rest.</summary>
    private bool TryPlaceStable(PmpImage previous, int groupCount)
    {
        int m = _monitorEntries;
        int n = EntryCount;
        for (int i = 0; i < m; i++)
        {
            if (previous.GetAddress(i) != _monitorImage.GetAddress(i) || previous.GetConfig(i) != _monitorImage.GetConfig(i))
            {
                return false;
            }
        }

        for (int i = 0; i < n; i++)
        {
            _claimed[i] = i < m;
        }

        for (int g = 0; g < groupCount; g++)
        {
            _placement[g] = -1;
        }

        // A leading group (TOR bounded by the last monitor entry) has exactly one legal place.
        if (groupCount > 0 && _groups[0].MustLead)
        {
            _placement[0] = m;
            for (int k = 0; k < _groups[0].Length; k++)
            {
                _claimed[m + k] = true;
            }
        }

        for (int g = 0; g < groupCount; g++)
        {
            if (_placement[g] >= 0)
            {
                continue;
            }

            Group group = _groups[g];
            for (int p = m; p + group.Length <= n; p++)
            {
                if (SlotsFree(p, group.Length) && MatchesPrevious(previous, group, p))
                {
                    Claim(g, p);
                    break;
                }
            }
        }

        for (int g = 0; g < groupCount; g++)
        {
            if (_placement[g] >= 0)
            {
                continue;
            }

            Group group = _groups[g];
            for (int p = m; p + group.Length <= n; p++)
            {
                // A slot right after a free slot is fine: groups other than the leading one carry their own bounds.
                if (SlotsFree(p, group.Length))
                {
                    Claim(g, p);
                    break;
                }
            }

            if (_placement[g] < 0)
            {
                return false;
            }
        }

        return true;
    }

    private bool SlotsFree(int position, int length)
    {
        for (int k = 0; k < length; k++)
        {
            if (_claimed[position + k])
            {
                return false;
            }
        }

        return true;
    }

    private void Claim(int group, int position)
    {
        _placement[group] = position;
        for (int k = 0; k < _groups[group].Length; k++)
        {
            _claimed[position + k] = true;
        }
    }

    private bool MatchesPrevious(PmpImage previous, Group group, int position)
    {
        for (int k = 0; k < group.Length; k++)
        {
            if (previous.GetAddress(position + k) != _entryAddress[group.First + k] || previous.GetConfig(position + k) != _entryConfig[group.First + k])
            {
                return false;
            }
        }

        return true;
    }

    private readonly record struct Run(ulong Start, ulong End, PmpConfigBits Config);

    private readonly struct Group(int first, int length, bool mustLead = false)
    {
        public int First { get; } = first;

        public int Length { get; } = length;

        public bool MustLead { get; } = mustLead;
    }
}
