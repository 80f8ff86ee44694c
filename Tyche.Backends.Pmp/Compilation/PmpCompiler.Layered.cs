// SPDX-License-Identifier: Apache-2.0
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Tyche.Backends.Pmp;

/// <summary>
/// The layered planner: an interval dynamic program over the elementary segments of the address space (the domain's
/// runs, the gaps between them and the space before and after) that also uses PMP priority (Privileged ISA §3.7.1:
/// the lowest-numbered matching entry decides).
/// </summary>
/// <remarks>
/// <para><b>Encoding class.</b> A plan is a laminar family of items; an item is either a NAPOT/NA4 block or a TOR
/// piece, both with one colour (R/W/X rights, or none: a deny entry). The items inside an item (its children) sit
/// at lower indices (higher priority) and paint over it; what no child covers shows the item's colour, and what no
/// item covers shows the ambient colour of the enclosing item (none at the top: unmatched, denied to S/U). Sibling
/// TOR pieces that touch form a chain (consecutive entries; each takes its lower bound from the previous entry's
/// <c>pmpaddr</c>). A chain's first piece takes its bound from an OFF entry, from the NAPOT/NA4 block that ends where
/// it starts (the block's <c>pmpaddr</c> lies inside the block, which shadows the TOR's bottom, §3.7.1.1), or from
/// the last monitor entry's <c>pmpaddr</c> (entry <c>m</c>; such a free chain has no children because nothing can
/// sit above entry <c>m</c> but the monitor). Item ends are segment boundaries.</para>
/// <para><b>Program.</b> <c>D[p, a, t, v]</c> is the fewest entries for the segments <c>p..t−1</c> with ambient colour
/// <c>a</c>, every item inside <c>[x_p, x_t)</c>, where <c>v</c> says whether an item ending at <c>x_t</c> can bound a
/// TOR that starts there (0 no, 1 yes, 2 the free chain, whose next piece must be childless). The last item ending at
/// <c>x_t</c> is either ambient (skip one segment), a TOR piece <c>[x_s, x_t)</c> of colour <c>c</c> (cost 1 + its
/// bound + <c>S[s, c, t]</c>), or a block <c>[x_s, x_t)</c> (cost 1 + <c>S[s, c, t]</c>). Restrictions that keep it
/// small: a TOR piece's first and last segment have the piece's colour (a child sitting there could join the chain
/// as a piece instead), a block's colour is one shown inside it (a block fully painted over could take any of those),
/// and a piece never has its region's ambient colour (an OFF entry bounds as well). Items spanning the whole region use
/// the region's cost without such an item (painting a span twice never pays), which orders the recursion. Rows are
/// filled only up to the last end some item can ask for, all six ambient colours of a cell at once (one vector step;
/// the colours no item asks for are computed and never read); no TOR entry ends at the top of the address space (its
/// <c>pmpaddr</c> would need one more bit), so the nearest block ending there is priced only in the last segment's
/// colour (in any other, nothing could paint that segment inside it). Time O(n²·(n + L)) vector steps for n segments
/// and L address bits; memory O(n²·8) 16-bit costs, preallocated; the tables are reused when the same runs are
/// planned again. The restrictions are argued, not proven; the exhaustive tests (every encoding, 8 grains) find no map
/// where they lose.</para>
/// </remarks>
public sealed partial class PmpCompiler
{
    private const int Colors = 6;
    private const int Lanes = 8; // a cell's colours, padded to one 128-bit vector of 16-bit costs (FillRows)

    // Costs are small (at most a few hundred entries), so the tables hold them in 16 bits with CellInfinity for
    // Infinity; every sum FillRows forms stays below 2·CellInfinity + 2, so the 16-bit lanes never wrap.
    private const ushort CellInfinity = 0x3FFF;
    private const int StoredVariants = 2; // _d holds variants 1 and 2 (DCell derives variant 0 from S)
    private const int VariantNone = 0;
    private const int VariantBound = 1;
    private const int VariantFree = 2;

    // Segments: at most 64 runs, 63 gaps between them, and the space before and after them.
    private const int MaxSegments = (2 * PmpEncoding.MaxEntries) + 1;
    private const int MaxPositions = MaxSegments + 1;
    private const int MaxBlockStarts = 64;
    private const int MaxNodes = 4 * PmpEncoding.MaxEntries;

    // Item kinds during reconstruction.
    private const byte ItemBlock = 1;
    private const byte ItemTorChained = 2; // bound from the previous item (a TOR piece or a block ending here)
    private const byte ItemTorChainedFree = 3; // the same, inside the free chain
    private const byte ItemTorFree = 4; // bound from the last monitor entry (entry m)
    private const byte ItemTorOff = 5; // an OFF entry holds the bound
    private const int BestFrom = -1; // a transition's FromVariant: the best variant of the cell it comes from (looked up when taken)

    private static readonly PmpConfigBits[] ColorPermissions =
    [
        PmpConfigBits.None,
        PmpConfigBits.Read,
        PmpConfigBits.Execute,
        PmpConfigBits.Read | PmpConfigBits.Execute,
        PmpConfigBits.Read | PmpConfigBits.Write,
        PmpConfigBits.Read | PmpConfigBits.Write | PmpConfigBits.Execute,
    ];

    private readonly ulong[] _x = new ulong[MaxPositions];
    private readonly byte[] _color = new byte[MaxSegments];
    private readonly int[] _prevSame = new int[MaxSegments];
    private readonly int[] _blockStarts = new int[MaxPositions * MaxBlockStarts];
    private readonly byte[] _blockColors = new byte[MaxPositions * MaxBlockStarts]; // colours inside each block (the only useful block colours)
    private readonly byte[] _blockStartCount = new byte[MaxPositions];

    // Per end t: how many of its listed blocks (the nearest ones) start above the row being filled; FillRows adds a
    // block when the row it starts at is complete.
    private readonly byte[] _blockCursor = new byte[MaxPositions];

    private readonly int[] _startBlocks = new int[MaxSegments * MaxBlockStarts]; // per start s: its blocks' indices in the per-end lists
    private readonly byte[] _startBlockCount = new byte[MaxSegments];

    // Per listed block [x_s, x_t), set once row s is complete: per ambient colour a (one cell of Lanes), one more than
    // the least S[s, c, t] over its colours c ≠ a (at least CellInfinity when there is none), so that the block's
    // candidate in FillRows is one vector read. Kept in _rowCosts from BlockInnerOffset on, at [BlockInnerOffset + b·Lanes]
    // for the block at index b of the per-end lists.
    private const int BlockInnerOffset = 2 * Lanes * MaxPositions;
    private readonly int[] _lastOf = new int[Colors];
    private readonly int[] _rowEnd = new int[MaxSegments]; // the last t row p is needed for
    private readonly ushort[] _d = new ushort[MaxSegments * Lanes * MaxPositions * StoredVariants];
    private readonly ushort[] _s = new ushort[MaxSegments * Lanes * MaxPositions];

    // Per span cell (p, ·, t), one with an item spanning all of [x_p, x_t): per colour, the cell's cost without such items
    // (at most CellInfinity, as every cost FillRows keeps; no clamp) shifted left by ProperVariantBits, ored with the
    // first variant reaching it, so that reconstruction reads a spanning item's price instead of recomputing it. Laid
    // out like _s; other cells are not written.
    private readonly ushort[] _proper = new ushort[MaxSegments * Lanes * MaxPositions];
    private const int ProperVariantBits = 2;
    private const int ProperVariantMask = (1 << ProperVariantBits) - 1;

    // Per-row scratch of FillRows for the row p being filled, per start s and ambient colour a: the cost before a TOR piece
    // starting at x_s that is bounded by an OFF entry or chained (min(D[p, a, s, bound] + 1, S[p, a, s] + 2), at
    // [2·Lanes·s + a]), and before one in the free chain (min(D[p, a, s, free] + 1, S[p, a, s] + 1 when x_s is the free
    // bound), Lanes after it; read only in rows with the free chain). The blocks' inner costs follow from
    // BlockInnerOffset on (not per row: kept from the row a block starts at for every row below), so the hot loop holds
    // one reference for the three.
    private readonly ushort[] _rowCosts = new ushort[BlockInnerOffset + (MaxPositions * MaxBlockStarts * Lanes)];
    private int _freePosition; // the position whose boundary is the free bound, −1 when none is
    private int _positions; // n + 1: boundaries x_0 = 0 … x_n = 2^PhysicalAddressBits
    private readonly Run[] _plannedRuns = new Run[PmpEncoding.MaxEntries]; // the runs the tables were filled for
    private int _plannedRunCount = -1;
    private int _plannedCost;

    // Reconstruction scratch: items of the regions being emitted (a stack of lists).
    private readonly Item[] _items = new Item[MaxNodes];
    private int _itemTop;
    private int _emitted;
    private int _freeEntry; // index of the free chain's first entry, −1 when none
    private int _freeLength;

    // The colour of each R/W/X combination, indexed by the permission bits (PmpConfigBits.Read, Write, Execute: pmpcfg
    // bits 0..2, Privileged ISA §3.7.1). W and WX are reserved encodings that ToPermissions never produces; they share
    // RWX's colour.
    private static ReadOnlySpan<byte> ColorByPermissions =>
    [
        0, // none
        1, // R
        5, // W (reserved)
        4, // RW
        2, // X
        3, // RX
        5, // WX (reserved)
        5, // RWX
    ];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ColorOf(PmpConfigBits permissions) => ColorByPermissions[(int)(permissions & PmpConfigBits.Permissions)];

    // Tables are laid out with the current problem's stride, so a small problem touches a small, cache-resident block.
    // A cell's ambient colours sit side by side (cells are Lanes apart), so FillRows computes them as one vector.
    private int DIndex(int p, int a, int t, int v) => (((((p * _positions) + t) * StoredVariants) + v - 1) * Lanes) + a;

    private int SIndex(int p, int a, int t) => (((p * _positions) + t) * Lanes) + a;

    /// <summary>
    /// <see cref="PlanLayered"/>, skipped when the tables already hold the plan of exactly these runs (admission's
    /// Measure followed by Compile of the same ranges, or recompiling an unchanged domain).
    /// </summary>
    private int PlanLayeredOnce(int runCount)
    {
        if (_plannedRunCount == runCount && SameAsPlanned(runCount))
        {
            return _plannedCost;
        }

        _plannedRunCount = -1; // invalid while the tables are rewritten
        int cost = PlanLayered(runCount);
        _runs.AsSpan(0, runCount).CopyTo(_plannedRuns);
        _plannedRunCount = runCount;
        _plannedCost = cost;
        return cost;
    }

    /// <summary>
    /// Whether the stored runs are the planned ones, compared field by field (<c>SequenceEqual</c> on the record struct
    /// would go through <c>EqualityComparer&lt;Run&gt;.Default</c>, which allocates when first created).
    /// </summary>
    private bool SameAsPlanned(int runCount)
    {
        for (int i = 0; i < runCount; i++)
        {
            Run a = _runs[i];
            Run b = _plannedRuns[i];
            if (a.Start != b.Start || a.End != b.End || a.Config != b.Config)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Builds the elementary segments from the stored runs and fills the program's tables; returns the fewest entries.</summary>
    private int PlanLayered(int runCount)
    {
        BuildSegments(runCount);
        int n = _positions - 1;

        // Rows are filled by decreasing p: those above the free bound, then those at or below it (the free chain's).
        int withoutFree = Math.Min(Math.Max(_freePosition + 1, 0), n);
        FillRows<WithoutFreeChain>(n - 1, withoutFree);
        FillRows<WithFreeChain>(withoutFree - 1, 0);

        return SCell(0, 0, n);
    }

    private void BuildSegments(int runCount)
    {
        ref ulong x = ref MemoryMarshal.GetArrayDataReference(_x);
        ref byte color = ref MemoryMarshal.GetArrayDataReference(_color);
        ref Run runs = ref MemoryMarshal.GetArrayDataReference(_runs);
        int n = 0;
        x = 0;
        for (int i = 0; i < runCount; i++)
        {
            Run run = Unsafe.Add(ref runs, i);
            if (run.Start > Unsafe.Add(ref x, n))
            {
                Unsafe.Add(ref color, n++) = 0; // a gap (or the space before the first run)
                Unsafe.Add(ref x, n) = run.Start;
            }

            Unsafe.Add(ref color, n++) = (byte)ColorOf(run.Config);
            Unsafe.Add(ref x, n) = run.End;
        }

        if (Unsafe.Add(ref x, n) < _addressLimit)
        {
            Unsafe.Add(ref color, n++) = 0;
            Unsafe.Add(ref x, n) = _addressLimit;
        }

        _positions = n + 1;
        _freePosition = -1;
        for (int k = 0; k <= n && Unsafe.Add(ref x, k) <= _freeBound; k++)
        {
            if (Unsafe.Add(ref x, k) == _freeBound)
            {
                _freePosition = k;
            }
        }

        // Every index below is under n + 1 ≤ MaxPositions (n ≤ MaxSegments), so the tables are read through references.
        ref int prevSame = ref MemoryMarshal.GetArrayDataReference(_prevSame);
        ref int rowEnd = ref MemoryMarshal.GetArrayDataReference(_rowEnd);
        ref byte blockCursor = ref MemoryMarshal.GetArrayDataReference(_blockCursor);
        ref byte startBlockCount = ref MemoryMarshal.GetArrayDataReference(_startBlockCount);
        ref int lastOf = ref MemoryMarshal.GetArrayDataReference(_lastOf);
        for (int c = 0; c < Colors; c++)
        {
            Unsafe.Add(ref lastOf, c) = -1;
        }

        blockCursor = 0;
        for (int k = 0; k < n; k++)
        {
            int c = Unsafe.Add(ref color, k);
            Unsafe.Add(ref prevSame, k) = Unsafe.Add(ref lastOf, c);
            Unsafe.Add(ref lastOf, c) = k;
            Unsafe.Add(ref startBlockCount, k) = 0;
            Unsafe.Add(ref blockCursor, k + 1) = 0;
        }

        // Row p is needed (for its own colour: TOR pieces from p; at p = 0 for none: the whole space; and for the
        // colours inside any block starting at p) up to its last same-coloured segment or its last block end. No TOR
        // piece ends at x_n, the top of the address space (its pmpaddr would need one more bit), so the rows of the last
        // segment's colour below it are needed for their TOR pieces only up to that colour's last segment before it.
        int topColor = Unsafe.Add(ref color, n - 1);
        int lastBelowTop = Unsafe.Add(ref prevSame, n - 1);
        for (int p = 0; p < n; p++)
        {
            int c = Unsafe.Add(ref color, p);
            Unsafe.Add(ref rowEnd, p) = (c == topColor && p < n - 1 ? lastBelowTop : Unsafe.Add(ref lastOf, c)) + 1;
        }

        rowEnd = n;

        // For every end position t, the positions s < t with [x_s, x_t) a NAPOT/NA4 block (nearest first). A block ending
        // at x_t is at most as large as x_t's alignment (x_t > 0 for t ≥ 1), and a power-of-two size up to that alignment
        // makes x_s = x_t − size a multiple of the size, so only the size's shape is left to check (as
        // IsSingleEntryShape does: NA4 only at G = 0, Privileged ISA §3.7.1.1; NAPOT from 8 bytes). Sizes grow as s
        // falls, so from each size the walk goes straight to the next power of two (x_t minus it is the only start that
        // can give a block before it), passing the segments between only to collect their colours.
        ref int blockStarts = ref MemoryMarshal.GetArrayDataReference(_blockStarts);
        ref byte blockColors = ref MemoryMarshal.GetArrayDataReference(_blockColors);
        ref byte blockStartCount = ref MemoryMarshal.GetArrayDataReference(_blockStartCount);
        ref int startBlocks = ref MemoryMarshal.GetArrayDataReference(_startBlocks);
        bool hasNa4 = _options.Granularity == 0;
        for (int t = 1; t <= n; t++)
        {
            int count = 0;
            ulong xt = Unsafe.Add(ref x, t);
            ulong alignment = xt & (0 - xt);
            int s = t - 1;
            ulong size = xt - Unsafe.Add(ref x, s);
            if (size <= alignment)
            {
                bool top = (xt >> PmpEncoding.AddressShift) > _addressMask;
                int blockBase = t * MaxBlockStarts;
                int colors = 1 << Unsafe.Add(ref color, s);
                while (true)
                {
                    ulong next; // the next power-of-two size above this one
                    if (BitOperations.IsPow2(size))
                    {
                        if (size == PmpEncoding.WordSize ? hasNa4 : size >= PmpEncoding.MinNapotSize)
                        {
                            // No TOR entry ends at the top of the address space (its pmpaddr would need one bit more
                            // than the implemented width), so inside the nearest block ending there nothing can paint
                            // the last segment: that block is only useful in the last segment's colour (any other
                            // costs at least Infinity).
                            int useful = count == 0 && top ? 1 << Unsafe.Add(ref color, t - 1) : colors;
                            Unsafe.Add(ref blockStarts, blockBase + count) = s;
                            Unsafe.Add(ref blockColors, blockBase + count) = (byte)useful;

                            // A start has at most one block per power-of-two size (at most 55 sizes from 4 bytes to
                            // 2^56), so neither list ever overflows.
                            Unsafe.Add(ref startBlocks, (s * MaxBlockStarts) + Unsafe.Add(ref startBlockCount, s)++) = blockBase + count;
                            count++;
                            Unsafe.Add(ref rowEnd, s) = Math.Max(Unsafe.Add(ref rowEnd, s), t);
                        }

                        if (size >= alignment)
                        {
                            break;
                        }

                        next = size << 1;
                    }
                    else
                    {
                        next = BitOperations.RoundUpToPowerOf2(size); // at most the alignment, a power of two above size
                    }

                    // Down to the nearest start at or below x_t − next, collecting the colours passed.
                    ulong bound = xt - next;
                    do
                    {
                        if (--s < 0)
                        {
                            goto Listed;
                        }

                        colors |= 1 << Unsafe.Add(ref color, s);
                    }
                    while (Unsafe.Add(ref x, s) > bound);

                    size = xt - Unsafe.Add(ref x, s);
                    if (size > alignment)
                    {
                        break;
                    }
                }
            }

        Listed:
            Unsafe.Add(ref blockStartCount, t) = (byte)count;
            Unsafe.Add(ref blockStarts, (t * MaxBlockStarts) + count) = -1; // ends the list for FillRows (count ≤ 55 < MaxBlockStarts, as noted where blocks are listed)
        }
    }

    /// <summary>
    /// Computes <c>D[p, a, t, ·]</c> for the ambient colours and ends each row p is needed for, rows
    /// <paramref name="top"/> down to <paramref name="bottom"/> (the rows above each are complete when it starts).
    /// </summary>
    /// <remarks>
    /// The hot loop of the planner. It does little arithmetic per cell, so it computes all six ambient colours of a
    /// cell at once (<see cref="ColorLanes"/>, one 128-bit vector of 16-bit costs; the tables keep a cell's colours
    /// side by side, so the working set of a 16-range domain stays in the first cache levels): a
    /// TOR piece's chain walk and a block's candidates are read once per end instead of once per colour, and there is
    /// no per-colour branching. Colours the row is not needed for compute values nobody reads (each lane depends only
    /// on its own lane and on the cells the scalar recurrence reads). It reads the tables through references taken once
    /// for all the rows (only the step that completes a row takes one more per row, its list of blocks, and reads the
    /// row's block count with a bounds check; every other index is below the current problem's stride, checked by
    /// <see cref="BuildSegments"/>, and read without one), keeps per end the count of listed blocks that start above
    /// the row (rows are filled by decreasing <c>p</c>: a completed row adds its own blocks, so no cell searches the
    /// list), and is compiled once per case of <typeparamref name="TFree"/>: rows that start above the free bound (no
    /// TOR piece there can be bounded by entry <c>m</c>, so the free chain's variant stays at Infinity and is not
    /// stored) keep fewer values live. No scratch is allocated per row.
    /// </remarks>
    private void FillRows<TFree>(int top, int bottom)
        where TFree : struct
    {
        // Indices are native-sized (nint) in the hot loop: no sign extension per address.
        int positions = _positions;
        nint pStride = positions * Lanes; // S[s, c, t] = sTable[s·pStride + t·Lanes + c]
        ref ushort sTable = ref MemoryMarshal.GetArrayDataReference(_s);
        ref ushort properTable = ref MemoryMarshal.GetArrayDataReference(_proper); // laid out like S
        ref ushort dTable = ref MemoryMarshal.GetArrayDataReference(_d);
        ref byte colorOf = ref MemoryMarshal.GetArrayDataReference(_color);
        ref int prevSame = ref MemoryMarshal.GetArrayDataReference(_prevSame);
        ref ulong x = ref MemoryMarshal.GetArrayDataReference(_x);
        ref int rowEnd = ref MemoryMarshal.GetArrayDataReference(_rowEnd);
        ref int blockStarts = ref MemoryMarshal.GetArrayDataReference(_blockStarts);
        ref byte blockCursor = ref MemoryMarshal.GetArrayDataReference(_blockCursor);
        ref byte blockColors = ref MemoryMarshal.GetArrayDataReference(_blockColors);
        ref ushort before = ref MemoryMarshal.GetArrayDataReference(_rowCosts);
        ulong freeBound = _freeBound;
        ulong addressMask = _addressMask;
        ColorLanes infinity = ColorLanes.Broadcast(CellInfinity);

        // A TOR entry ends at x_t only if its pmpaddr holds x_t (the boundaries increase, so all but possibly the last do).
        nint torEnd = (Unsafe.Add(ref x, positions - 1) >> PmpEncoding.AddressShift) <= addressMask ? positions - 1 : positions - 2;
        nint freePosition = _freePosition;

        // The free chain (variant 2) starts at the free bound's position: rows starting above it never leave Infinity.
        bool hasFree = typeof(TFree) == typeof(WithFreeChain);
        ColorLanes one = ColorLanes.Broadcast(1);
        for (int p = top; p >= bottom; p--)
        {
            nint end = Unsafe.Add(ref rowEnd, p);
            nint row = p;
            ref ushort sRow = ref Unsafe.Add(ref sTable, row * pStride); // S[p, ·, t] at sRow[t·Lanes]
            ref ushort properRow = ref Unsafe.Add(ref properTable, row * pStride);
            ref ushort dRow = ref Unsafe.Add(ref dTable, row * pStride * StoredVariants); // D[p, ·, t, v] at dRow[(t·StoredVariants + v − 1)·Lanes]
            ulong xp = Unsafe.Add(ref x, p);
            int cp = Unsafe.Add(ref colorOf, p);

            // The previous cell's S and costs before a TOR piece starting at its end stay in registers as well as in the
            // tables: the next cell reads them first, and a reload would wait for the store. For the empty region [x_p, x_p)
            // only S is stored (the skip of segment p reads it); no reader asks for D[p, ·, p, ·] or for a TOR start at p
            // in row p (the walk starts above p and uses the registers for s = k).
            ColorLanes previousBest = ColorLanes.Broadcast(0);
            ColorLanes previousChain = ColorLanes.Broadcast(2);
            ColorLanes previousFree = ColorLanes.Broadcast(xp == freeBound ? 1 : CellInfinity);
            previousBest.Store(ref Unsafe.Add(ref sRow, row * Lanes));

            for (nint t = row + 1; t <= end; t++)
            {
                nint k = t - 1;
                int ck = Unsafe.Add(ref colorOf, k);
                bool torFits = t <= torEnd;
                nint blockBase = t * MaxBlockStarts;
                nint blocks = Unsafe.Add(ref blockCursor, t); // blocks [x_s, x_t) with p < s (listed from t−1 downwards)

                // The block [x_p, x_t) when there is one (the next listed; the list ends in a start of −1), in the colours
                // the program prices it.
                int spanColors = Unsafe.Add(ref blockStarts, blockBase + blocks) == p ? Unsafe.Add(ref blockColors, blockBase + blocks) : 0;

                // Ambient ck: skip the segment. Other ambients: a TOR piece [x_s, x_t) of colour ck after the cells of this
                // row up to s (an unreachable cell has every variant at Infinity, so its candidates exceed Infinity and
                // change nothing).
                ColorLanes isCk = ColorLanes.LaneIs(ck);
                ColorLanes d0 = ColorLanes.Select(isCk, previousBest, infinity);
                ColorLanes d1 = infinity;
                ColorLanes d2 = infinity;
                if (torFits)
                {
                    // The walk starts at s = k (segment k has colour ck), whose costs are the previous cell's; the piece
                    // [x_k, x_t) is segment k alone, painted by its own colour: S[k, ck, t] = 0.
                    ref ushort inner0 = ref Unsafe.Add(ref sTable, (t * Lanes) + ck); // S[s, ck, t] = inner0[s·pStride]
                    if (k > row)
                    {
                        d1 = ColorLanes.Min(d1, previousChain); // (d1 is Infinity here, so the minimum stays at most Infinity)
                        if (hasFree)
                        {
                            d2 = ColorLanes.Min(d2, previousFree);
                        }
                    }

                    if (hasFree)
                    {
                        for (nint s = Unsafe.Add(ref prevSame, k); s > row; s = Unsafe.Add(ref prevSame, s))
                        {
                            int inner = Unsafe.Add(ref inner0, s * pStride);
                            d1 = ColorLanes.Min(d1, ColorLanes.Load(ref Unsafe.Add(ref before, s * 2 * Lanes)) + ColorLanes.Broadcast(inner));
                            if (inner == 0)
                            {
                                d2 = ColorLanes.Min(d2, ColorLanes.Load(ref Unsafe.Add(ref before, (s * 2 * Lanes) + Lanes)));
                            }
                        }
                    }
                    else
                    {
                        // No free chain in this row (d2 stays Infinity): the same walk without its candidates.
                        for (nint s = Unsafe.Add(ref prevSame, k); s > row; s = Unsafe.Add(ref prevSame, s))
                        {
                            d1 = ColorLanes.Min(d1, ColorLanes.Load(ref Unsafe.Add(ref before, s * 2 * Lanes)) + ColorLanes.Broadcast(Unsafe.Add(ref inner0, s * pStride)));
                        }
                    }

                    d1 = ColorLanes.Select(isCk, infinity, d1);
                    if (hasFree)
                    {
                        d2 = ColorLanes.Select(isCk, infinity, d2);
                    }
                }

                // A block [x_s, x_t) of a colour c ≠ a shown inside it, after the cells of this row up to s: the least
                // S[s, c, t] over those colours was kept when row s was complete (an unreachable cell or a block with no
                // other colour gives a candidate above Infinity, which changes nothing).
                for (nint b = blockBase; b < blockBase + blocks; b++)
                {
                    ColorLanes any = ColorLanes.Load(ref Unsafe.Add(ref sRow, (nint)Unsafe.Add(ref blockStarts, b) * Lanes));
                    d1 = ColorLanes.Min(d1, any + ColorLanes.Load(ref Unsafe.Add(ref before, BlockInnerOffset + (b * Lanes))));
                }

                // (d2 stays Infinity in rows without the free chain, and d0, d1 never exceed it.)
                ColorLanes best = hasFree ? ColorLanes.Min(d0, ColorLanes.Min(d1, d2)) : ColorLanes.Min(d0, d1);
                if (!(torFits && cp == ck) && spanColors == 0)
                {
                    Store(ref dRow, ref sRow, ref before, t, d1, d2, best, hasFree, t == freePosition, out previousChain, out previousFree);
                    previousBest = best;
                    continue;
                }

                // Items spanning all of [x_p, x_t): a TOR piece (first and last segment of its colour) or a block, priced
                // with the cells of [x_p, x_t) without them (best, per colour), which reconstruction reads back.
                ColorLanes.PackProper(d0, d1, best).Store(ref Unsafe.Add(ref properRow, t * Lanes));
                // (Lanes are spread in registers: the next cell waits for these values.)
                if (torFits && cp == ck)
                {
                    ColorLanes inner = best.Spread(ck);
                    ColorLanes notCk = ColorLanes.Not(isCk);
                    d1 = ColorLanes.Select(notCk, ColorLanes.Min(d1, inner + ColorLanes.Broadcast(2)), d1);
                    if (hasFree && xp == freeBound)
                    {
                        d2 = ColorLanes.Select(notCk & ColorLanes.IsZero(inner), ColorLanes.Min(d2, one), d2);
                    }
                }

                for (int colors = spanColors; colors != 0; colors &= colors - 1)
                {
                    int c = BitOperations.TrailingZeroCount(colors);
                    d1 = ColorLanes.Select(ColorLanes.LaneIs(c), d1, ColorLanes.Min(d1, best.Spread(c) + one));
                }

                previousBest = hasFree ? ColorLanes.Min(d0, ColorLanes.Min(d1, d2)) : ColorLanes.Min(d0, d1);
                Store(ref dRow, ref sRow, ref before, t, d1, d2, previousBest, hasFree, t == freePosition, out previousChain, out previousFree);
            }

            // Row p is complete: keep, per block starting at p and per ambient colour, one more than its least cell over its other colours.
            ref int startBlocks = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_startBlocks), p * MaxBlockStarts);
            for (int j = 0, count = _startBlockCount[p]; j < count; j++)
            {
                int b = Unsafe.Add(ref startBlocks, j);
                int t = (int)((uint)b / MaxBlockStarts); // (unsigned: a shift)
                Unsafe.Add(ref blockCursor, t)++; // the rows below see this block as one starting above them
                int least = CellInfinity, other = CellInfinity, leastColor = Colors;
                for (int colors = Unsafe.Add(ref blockColors, b); colors != 0; colors &= colors - 1)
                {
                    int c = BitOperations.TrailingZeroCount(colors);
                    int cell = Unsafe.Add(ref sRow, (t * Lanes) + c);
                    if (cell < least)
                    {
                        other = least;
                        least = cell;
                        leastColor = c;
                    }
                    else if (cell < other)
                    {
                        other = cell;
                    }
                }

                ColorLanes.Select(ColorLanes.LaneIs(leastColor), ColorLanes.Broadcast(other + 1), ColorLanes.Broadcast(least + 1))
                    .Store(ref Unsafe.Add(ref before, BlockInnerOffset + (b * Lanes)));
            }
        }
    }

    /// <summary>
    /// Writes the cell <c>(p, ·, t)</c> and the costs before a TOR piece starting at <c>x_t</c>. Variant 0 (the skip)
    /// is not stored: <see cref="DCell"/> derives it from <c>S</c>; without <paramref name="hasFree"/> neither is the
    /// free chain's variant nor its cost before a TOR piece (Infinity there). The costs before a TOR piece starting at
    /// <c>x_t</c> are returned as well (<paramref name="free"/> is Infinity without <paramref name="hasFree"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref ushort dRow, ref ushort sRow, ref ushort before, nint t, ColorLanes d1, ColorLanes d2, ColorLanes best, bool hasFree, bool atFreeBound, out ColorLanes chain, out ColorLanes free)
    {
        d1.Store(ref Unsafe.Add(ref dRow, t * StoredVariants * Lanes));
        if (hasFree)
        {
            d2.Store(ref Unsafe.Add(ref dRow, ((t * StoredVariants) + 1) * Lanes)); // Infinity in other rows (see DCell)
        }

        best.Store(ref Unsafe.Add(ref sRow, t * Lanes));
        chain = ColorLanes.Min(d1 + ColorLanes.Broadcast(1), best + ColorLanes.Broadcast(2));
        chain.Store(ref Unsafe.Add(ref before, t * 2 * Lanes));
        free = ColorLanes.Broadcast(CellInfinity);
        if (hasFree)
        {
            free = ColorLanes.Min(d2 + ColorLanes.Broadcast(1), atFreeBound ? best + ColorLanes.Broadcast(1) : ColorLanes.Broadcast(CellInfinity));
            free.Store(ref Unsafe.Add(ref before, (t * 2 * Lanes) + Lanes));
        }
    }

    /// <summary>Type argument of <see cref="FillRows{TFree}"/>: the row starts at or below the free bound.</summary>
    private readonly struct WithFreeChain;

    /// <summary>Type argument of <see cref="FillRows{TFree}"/>: the row starts above the free bound.</summary>
    private readonly struct WithoutFreeChain;

    /// <summary>The six ambient colours of one cell (two padding lanes) as one 128-bit vector of 16-bit costs (accelerated on x64 and Arm64).</summary>
    private readonly struct ColorLanes(Vector128<ushort> lanes)
    {
        private readonly Vector128<ushort> _lanes = lanes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes Broadcast(int value) => new(Vector128.Create((ushort)value));

        /// <summary>All ones in lane <paramref name="lane"/>, zeros elsewhere.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes LaneIs(int lane) => new(Vector128.Equals(Vector128.Create((ushort)0, 1, 2, 3, 4, 5, 6, 7), Vector128.Create((ushort)lane)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes Not(ColorLanes mask) => new(~mask._lanes);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes Load(ref ushort at) => new(Vector128.LoadUnsafe(ref at));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes Min(ColorLanes a, ColorLanes b) => new(Vector128.Min(a._lanes, b._lanes));

        /// <summary>Lanes of <paramref name="ifSet"/> where <paramref name="mask"/> is all ones, of <paramref name="otherwise"/> elsewhere.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes Select(ColorLanes mask, ColorLanes ifSet, ColorLanes otherwise) => new(Vector128.ConditionalSelect(mask._lanes, ifSet._lanes, otherwise._lanes));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes operator +(ColorLanes a, ColorLanes b) => new(a._lanes + b._lanes);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes operator &(ColorLanes a, ColorLanes b) => new(a._lanes & b._lanes);

        /// <summary>All ones in the lanes that are zero.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes IsZero(ColorLanes a) => new(Vector128.Equals(a._lanes, Vector128<ushort>.Zero));

        /// <summary>
        /// Lane <paramref name="lane"/> in every lane, without a round trip through memory where the hardware has a
        /// byte shuffle (SSSE3 PSHUFB, Arm64 TBL).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ColorLanes Spread(int lane)
        {
            Vector128<byte> pick = Vector128.Create((ushort)((lane * 2) | (((lane * 2) + 1) << 8))).AsByte(); // both bytes of the lane
            if (Ssse3.IsSupported)
            {
                return new(Ssse3.Shuffle(_lanes.AsByte(), pick).AsUInt16());
            }

            if (AdvSimd.Arm64.IsSupported)
            {
                return new(AdvSimd.Arm64.VectorTableLookup(_lanes.AsByte(), pick).AsUInt16());
            }

            return Broadcast(_lanes.GetElement(lane));
        }

        /// <summary>
        /// Per lane, <paramref name="best"/> (the least of <paramref name="d0"/>, <paramref name="d1"/> and a third
        /// variant, at most <see cref="CellInfinity"/> as every cost FillRows keeps is) shifted left by
        /// <see cref="ProperVariantBits"/> and ored with the first variant equal to it (0 when it is Infinity: d0 is).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ColorLanes PackProper(ColorLanes d0, ColorLanes d1, ColorLanes best)
        {
            Vector128<ushort> variant = Vector128.ConditionalSelect(
                Vector128.Equals(d0._lanes, best._lanes),
                Vector128.Create((ushort)VariantNone),
                Vector128.ConditionalSelect(Vector128.Equals(d1._lanes, best._lanes), Vector128.Create((ushort)VariantBound), Vector128.Create((ushort)VariantFree)));
            return new((best._lanes << ProperVariantBits) | variant);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(ref ushort at) => _lanes.StoreUnsafe(ref at);
    }

    /// <summary>A table cost widened back to the planner's scale (CellInfinity is Infinity).</summary>
    private static int Widen(ushort cell) => cell >= CellInfinity ? Infinity : cell;

    /// <summary>
    /// <c>D[p, a, t, v]</c>. Variant 0 ends in ambient: the skip of segment <c>t − 1</c> in its own colour (0 for the
    /// empty region), which <see cref="FillRows{TFree}"/> does not store; nor does it store the free chain's variant in rows
    /// above the free bound, where it is Infinity.
    /// </summary>
    private int DCell(int p, int a, int t, int v)
    {
        if (v == VariantNone)
        {
            return t == p ? 0 : a == Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_color), t - 1) ? SCell(p, a, t - 1) : Infinity;
        }

        if (v == VariantFree && p > _freePosition)
        {
            return Infinity;
        }

        return Widen(Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_d), DIndex(p, a, t, v)));
    }

    /// <summary><c>S[p, a, t]</c>, read through a reference (every p ≤ t &lt; _positions and a &lt; Colors indexes inside the table).</summary>
    private int SCell(int p, int a, int t) => Widen(Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_s), SIndex(p, a, t)));

    /// <summary>Emits the layered plan (after <see cref="PlanLayered"/>) into the entry scratch and top-level groups.</summary>
    private int EmitLayered(out int groupCount)
    {
        int n = _positions - 1;
        _emitted = 0;
        _itemTop = 0;
        _freeEntry = -1;
        groupCount = 0;
        int groupsStart = _itemTop;
        int v = BestVariant(0, 0, n, proper: false, out int cost);
        int items = Reconstruct(0, 0, n, v, proper: false, cost);
        int freeGroup = -1;
        for (int g = 0; g < items;)
        {
            int first = _emitted;
            int length = GroupLength(groupsStart, items, g);
            EmitGroup(groupsStart + g, length);
            if (_freeEntry >= first && _freeEntry < _emitted)
            {
                RotateToFront(first, _freeEntry, _freeLength);
                freeGroup = groupCount;
            }

            _groups[groupCount++] = new Group(first, _emitted - first);
            g += length;
        }

        _itemTop = groupsStart;
        if (freeGroup >= 0)
        {
            Group lead = _groups[freeGroup];
            for (int k = freeGroup; k > 0; k--)
            {
                _groups[k] = _groups[k - 1];
            }

            _groups[0] = new Group(lead.First, lead.Length, true);
        }

        if (_emitted != cost)
        {
            throw new InvalidOperationException($"Layered plan emitted {_emitted} entries for a cost of {cost}.");
        }

        return _emitted;
    }

    /// <summary>Moves <paramref name="length"/> entries at <paramref name="from"/> to <paramref name="to"/>, shifting the ones between up.</summary>
    private void RotateToFront(int to, int from, int length)
    {
        for (int r = 0; r < length; r++)
        {
            ulong address = _entryAddress[from + r];
            PmpConfigBits config = _entryConfig[from + r];
            for (int k = from + r; k > to + r; k--)
            {
                _entryAddress[k] = _entryAddress[k - 1];
                _entryConfig[k] = _entryConfig[k - 1];
            }

            _entryAddress[to + r] = address;
            _entryConfig[to + r] = config;
        }
    }

    private int BestVariant(int p, int a, int t, bool proper, out int cost)
    {
        if (!proper)
        {
            // The first variant with the least cost (each cell read once).
            int best = VariantNone;
            cost = DCell(p, a, t, VariantNone);
            int bound = DCell(p, a, t, VariantBound);
            if (bound < cost)
            {
                best = VariantBound;
                cost = bound;
            }

            int free = DCell(p, a, t, VariantFree);
            if (free < cost)
            {
                best = VariantFree;
                cost = free;
            }

            return best;
        }

        if (!IsSpanCell(p, t))
        {
            return BestVariant(p, a, t, proper: false, out cost); // no spanning item: the cell is its own proper cost
        }

        int packed = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_proper), SIndex(p, a, t));
        cost = Widen((ushort)(packed >> ProperVariantBits));
        return packed & ProperVariantMask;
    }

    /// <summary>
    /// Whether an item can span all of <c>[x_p, x_t)</c> (a TOR piece whose first and last segment have one colour, or
    /// a listed block), the cells <see cref="FillRows{TFree}"/> keeps a proper cost for.
    /// </summary>
    private bool IsSpanCell(int p, int t) =>
        ((_x[t] >> PmpEncoding.AddressShift) <= _addressMask && _color[p] == _color[t - 1]) || ListedSpanColors(p, t) != 0;

    /// <summary>
    /// Enumerates the transitions into <c>(p, a, t, v)</c> for <paramref name="v"/> ≠ 0 (variant 0 ends in the ambient
    /// skip, which <see cref="Reconstruct"/> takes itself): by start from the nearest
    /// (a block before a TOR piece from the same start, as the non-overlapping planner prefers NAPOT on ties), then,
    /// with <paramref name="wholeSpan"/>, the items spanning the region. Returns the first whose cost is
    /// <paramref name="target"/> (false when none is). Only the starts that have a candidate are visited: the blocks
    /// listed for <c>t</c> and the chain of segments of <c>t − 1</c>'s colour, merged by decreasing start.
    /// </summary>
    private bool FindTransition(int p, int a, int t, int v, bool wholeSpan, int target, out Transition found)
    {
        found = default;
        ref byte colorOf = ref MemoryMarshal.GetArrayDataReference(_color);
        ref ulong x = ref MemoryMarshal.GetArrayDataReference(_x);
        ref int blockStarts = ref MemoryMarshal.GetArrayDataReference(_blockStarts);
        int k = t - 1;
        int ck = Unsafe.Add(ref colorOf, k);
        bool torFits = (Unsafe.Add(ref x, t) >> PmpEncoding.AddressShift) <= _addressMask;

        // The next start with a TOR candidate (the segments of colour ck from t − 1 down) and with a block candidate
        // (the blocks listed for t, nearest first); a start at or below p has none.
        int torStart = ck != a && torFits ? k : p;
        int blocks = v == VariantBound ? Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_blockStartCount), t) : 0;
        int blockBase = t * MaxBlockStarts;
        int b = 0;
        while (true)
        {
            int blockStart = b < blocks ? Unsafe.Add(ref blockStarts, blockBase + b) : p;
            int s = Math.Max(torStart, blockStart);
            if (s <= p)
            {
                break;
            }

            bool isBlock = blockStart == s;
            bool isTor = torStart == s;
            if (isBlock)
            {
                b++;
            }

            if (isTor)
            {
                torStart = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_prevSame), s);
            }

            int any = SCell(p, a, s);
            if (any >= Infinity)
            {
                continue;
            }

            if (isBlock)
            {
                int colors = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_blockColors), blockBase + b - 1) & ~(1 << a);
                while (colors != 0)
                {
                    int c = BitOperations.TrailingZeroCount(colors);
                    colors &= colors - 1;
                    if (Consider(new Transition(ItemBlock, s, BestFrom, c), any + 1 + SCell(s, c, t), target, ref found))
                    {
                        return true;
                    }
                }
            }

            if (!isTor)
            {
                continue;
            }

            int inner = SCell(s, ck, t);
            if (v == VariantBound)
            {
                if (Consider(new Transition(ItemTorChained, s, VariantBound, ck), DCell(p, a, s, VariantBound) + 1 + inner, target, ref found)
                    || Consider(new Transition(ItemTorOff, s, BestFrom, ck), any + 2 + inner, target, ref found))
                {
                    return true;
                }
            }
            else if (v == VariantFree && inner == 0)
            {
                if (Consider(new Transition(ItemTorChainedFree, s, VariantFree, ck), DCell(p, a, s, VariantFree) + 1, target, ref found)
                    || (Unsafe.Add(ref x, s) == _freeBound && Consider(new Transition(ItemTorFree, s, BestFrom, ck), any + 1, target, ref found)))
                {
                    return true;
                }
            }
        }

        if (!wholeSpan)
        {
            return false;
        }

        if (torFits && _color[p] == ck && ck != a)
        {
            int inner = ProperCostMin(p, ck, t);
            if ((v == VariantBound && Consider(new Transition(ItemTorOff, p, 0, ck), 2 + inner, target, ref found))
                || (v == VariantFree && inner == 0 && _x[p] == _freeBound && Consider(new Transition(ItemTorFree, p, 0, ck), 1, target, ref found)))
            {
                return true;
            }
        }

        if (v == VariantBound && IsSingleEntryShape(_x[p], _x[t]))
        {
            int colors = ListedSpanColors(p, t) & ~(1 << a);
            while (colors != 0)
            {
                int c = BitOperations.TrailingZeroCount(colors);
                colors &= colors - 1;
                if (Consider(new Transition(ItemBlock, p, 0, c), 1 + ProperCostMin(p, c, t), target, ref found))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Takes <paramref name="candidate"/> as <paramref name="found"/> when its cost is the target (and says so).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Consider(Transition candidate, int cost, int target, ref Transition found)
    {
        if (cost != target)
        {
            return false;
        }

        found = candidate;
        return true;
    }

    /// <summary>The colours the program priced the block <c>[x_p, x_t)</c> in (0 when it is not listed).</summary>
    private int ListedSpanColors(int p, int t)
    {
        int blockBase = t * MaxBlockStarts;
        for (int b = 0; b < _blockStartCount[t]; b++)
        {
            if (_blockStarts[blockBase + b] == p)
            {
                return _blockColors[blockBase + b];
            }
        }

        return 0;
    }

    private int ProperCostMin(int p, int a, int t)
    {
        BestVariant(p, a, t, proper: true, out int cost);
        return cost;
    }

    /// <summary>
    /// Pushes the items of the region <c>[x_p, x_t)</c> with ambient <paramref name="a"/> ending in variant
    /// <paramref name="v"/> onto the item stack, in address order; returns how many. With <paramref name="proper"/>
    /// the region's own cell is read without items spanning all of it (as the program priced it for its parent);
    /// <paramref name="cost"/> is that cell's cost as <see cref="BestVariant"/> returned it (not recomputed). The walk
    /// stops where the rest of the region costs nothing (every item costs at least one entry).
    /// </summary>
    private int Reconstruct(int p, int a, int t, int v, bool proper, int cost)
    {
        int count = 0;
        int first = _itemTop;
        bool firstStep = true;
        int target = cost; // the cost of the cell (p, a, t, v) still to walk
        while (t > p)
        {
            bool wholeSpan = !(proper && firstStep);
            if (target == 0)
            {
                break; // every item costs at least one entry: the rest of the region is ambient
            }

            if (target >= Infinity)
            {
                throw new InvalidOperationException("Layered plan reconstruction failed.");
            }

            if (v == VariantNone)
            {
                // Variant 0 ends in ambient: the cell's cost is the skip's (D[p, a, t, 0] = S[p, a, t − 1], segment t − 1 in
                // colour a; a proper cell packs variant 0 only when it costs that), so the skip is the transition.
                t--;
                firstStep = false;
                if (t > p)
                {
                    v = BestVariant(p, a, t, proper: false, out target);
                }

                continue;
            }

            if (!FindTransition(p, a, t, v, wholeSpan, target, out Transition step))
            {
                throw new InvalidOperationException("Layered plan reconstruction failed.");
            }

            // Every transition FindTransition finds is an item (the ambient skip is taken above). A spanning item was
            // priced with its region's proper cost.
            _items[_itemTop++] = new Item(step.Kind, (byte)step.Color, step.From == p, step.From, t);
            count++;

            t = step.From;
            firstStep = false;
            if (t > p)
            {
                if (step.FromVariant == BestFrom)
                {
                    v = BestVariant(p, a, t, proper: false, out target);
                }
                else
                {
                    v = step.FromVariant;
                    target = DCell(p, a, t, v);
                }
            }
        }

        // The items were found from right to left: reverse them into address order.
        if (count < 2)
        {
            return count;
        }

        _items.AsSpan(first, count).Reverse();
        return count;
    }

    /// <summary>Items from <paramref name="g"/> that form one group: a head, then TOR pieces chained to it.</summary>
    private int GroupLength(int first, int items, int g)
    {
        int length = 1;
        while (g + length < items && _items[first + g + length].Kind is ItemTorChained or ItemTorChainedFree)
        {
            length++;
        }

        return length;
    }

    /// <summary>Emits one group: first every child region of its items (higher priority), then its own entries.</summary>
    private void EmitGroup(int firstItem, int length)
    {
        for (int i = 0; i < length; i++)
        {
            Item item = _items[firstItem + i];
            int from = item.From;
            int to = item.To;
            int color = item.Color;
            bool proper = item.Proper;
            if (SCell(from, color, to) == 0)
            {
                continue; // nothing painted inside (a spanning item costs an entry, so the proper cost is 0 as well)
            }

            int v = BestVariant(from, color, to, proper, out int cost);
            int saved = _itemTop;
            int items = Reconstruct(from, color, to, v, proper, cost);
            for (int g = 0; g < items;)
            {
                int l = GroupLength(saved, items, g);
                EmitGroup(saved + g, l);
                g += l;
            }

            _itemTop = saved;
        }

        for (int i = 0; i < length; i++)
        {
            Item item = _items[firstItem + i];
            ulong start = _x[item.From];
            ulong end = _x[item.To];
            PmpConfigBits rights = ColorPermissions[item.Color];
            switch (item.Kind)
            {
                case ItemBlock:
                    {
                        ulong size = end - start;
                        bool na4 = size == PmpEncoding.WordSize;
                        Add((na4 ? start >> PmpEncoding.AddressShift : PmpEncoding.EncodeNapot(start, size)) & _addressMask,
                            PmpEncoding.MakeConfig(na4 ? PmpAddressMatching.Na4 : PmpAddressMatching.Napot, rights, false));
                        break;
                    }

                case ItemTorOff:
                    // An OFF entry holding the lower bound (Privileged ISA §3.7.1.1: TOR uses pmpaddr[i-1]; OFF matches nothing).
                    Add((start >> PmpEncoding.AddressShift) & _addressMask, PmpConfigBits.None);
                    Add((end >> PmpEncoding.AddressShift) & _addressMask, PmpEncoding.MakeConfig(PmpAddressMatching.Tor, rights, false));
                    break;
                case ItemTorFree:
                    _freeEntry = _emitted;
                    _freeLength = length;
                    Add((end >> PmpEncoding.AddressShift) & _addressMask, PmpEncoding.MakeConfig(PmpAddressMatching.Tor, rights, false));
                    break;
                default:
                    Add((end >> PmpEncoding.AddressShift) & _addressMask, PmpEncoding.MakeConfig(PmpAddressMatching.Tor, rights, false));
                    break;
            }
        }
    }

    private void Add(ulong address, PmpConfigBits config)
    {
        _entryAddress[_emitted] = address;
        _entryConfig[_emitted] = config;
        _emitted++;
    }

    private readonly record struct Transition(byte Kind, int From, int FromVariant, int Color);

    /// <summary>An item of a plan: its kind, colour, whether it was priced with its region's proper cost, and its segments <c>From..To−1</c>.</summary>
    private readonly record struct Item(byte Kind, byte Color, bool Proper, int From, int To);
}
