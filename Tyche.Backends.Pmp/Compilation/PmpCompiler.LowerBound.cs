// SPDX-License-Identifier: Apache-2.0
using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Tyche.Backends.Pmp;

/// <summary>
/// A lower bound on the entries of ANY encoding of the stored runs (layered ones included), cheap enough to decide
/// before the layered planner runs whether it could find anything below the non-overlapping plan.
/// </summary>
/// <remarks>
/// <para><b>The charging argument.</b> Call a change point an address strictly inside the space where the rights on
/// its two sides differ (every boundary between two elementary segments). At a change point <c>x</c> let <c>L</c> be
/// the entry that decides the word below <c>x</c> and <c>R</c> the one that decides <c>x</c> (Privileged ISA §3.7.1:
/// the lowest-numbered match; "none" when unmatched); they differ. Either <c>L</c>'s range ends at <c>x</c>, or it
/// goes on past <c>x</c>, and then <c>R</c> has priority over <c>L</c> and its range starts at <c>x</c> (otherwise it
/// would decide the word below too); when <c>L</c> is none, <c>R</c>'s range starts at <c>x</c> as well. Charge
/// <c>x</c> to <c>L</c> in the first case. In the second, charge it to <c>R</c> if <c>R</c> is a NAPOT/NA4 block;
/// if <c>R</c> is a TOR entry its range starts at entry <c>R−1</c>'s <c>pmpaddr</c>: charge <c>x</c> to entry
/// <c>R−1</c>, which cannot be a block (a block's <c>pmpaddr</c> lies inside the block, which has priority over
/// <c>R</c> and would decide <c>x</c>), so it is a TOR or OFF entry whose <c>pmpaddr</c> is <c>x</c>; when <c>R</c>
/// is the first domain entry, <c>R−1</c> is the last monitor entry and <c>x</c> is the free bound, charged to no
/// domain entry. So a TOR or OFF entry is charged at most once (at its own <c>pmpaddr</c>), a block at most twice
/// (at its two ends), and the blocks charged twice have both ends at change points and no end in common: they form a
/// matching in the graph whose edges join two change points that bound a naturally aligned power-of-two block.
/// Hence entries ≥ (change points) − (1 if the free bound is one) − ν, with ν that graph's maximum matching.</para>
/// <para>Every visible colour also needs an entry of that colour; the bound is the larger of the two.</para>
/// <para><b>The matching.</b> Naturally aligned power-of-two blocks are nested or disjoint, so the edges (arcs) form a
/// laminar family with at most 2·(points) members. A tree walk over it (pre-order: start ascending, larger first)
/// computes, for every arc, the largest matching inside it for each of the four availabilities of its two end
/// points; an arc's children (the largest arcs strictly inside it) lie side by side, neighbours possibly sharing an
/// end point, so they combine left to right with a two-state recurrence (is the point shared with the next child
/// still free?). Time O(points · span + arcs), recursion depth at most the nesting of the blocks (≤ the address
/// bits), no allocation.</para>
/// </remarks>
public sealed partial class PmpCompiler
{
    private const int NoValue = -1_000_000;
    private const int MaxArcs = 2 * MaxPositions;

    private readonly ulong[] _points = new ulong[MaxPositions];
    private readonly int[] _arcFrom = new int[MaxArcs];
    private readonly int[] _arcTo = new int[MaxArcs];

    /// <summary>Test hook: the lower bound for <paramref name="ranges"/> (−1 when they do not normalize or exceed the run scratch).</summary>
    internal int LowerBoundOf(ReadOnlySpan<Tyche.Capabilities.MemoryPermission> ranges)
    {
        PmpStatus status = Normalize(ranges, out int runCount, out _, out _);
        return status != PmpStatus.Ok || runCount > _runs.Length ? -1 : LowerBound(runCount);
    }

    /// <summary>Test hook: <see cref="LowerBoundReaches"/> for <paramref name="ranges"/> (which must normalize into the run scratch).</summary>
    internal bool LowerBoundReachesOf(ReadOnlySpan<Tyche.Capabilities.MemoryPermission> ranges, int planned)
    {
        PmpStatus status = Normalize(ranges, out int runCount, out _, out _);
        return status != PmpStatus.Ok || runCount > _runs.Length
            ? throw new ArgumentException("the ranges do not normalize into the run scratch", nameof(ranges))
            : LowerBoundReaches(runCount, planned);
    }

    /// <summary>Test hook: <see cref="MaximumBlockMatching"/> of <paramref name="points"/> (sorted, distinct, non-zero).</summary>
    internal int MaximumBlockMatchingOf(ReadOnlySpan<ulong> points)
    {
        points.CopyTo(_points);
        return MaximumBlockMatching(points.Length);
    }

    /// <summary>The lower bound of the remarks for the stored runs.</summary>
    private int LowerBound(int runCount)
    {
        int points = CollectChangePoints(runCount, out int free, out int colorBound);
        return Math.Max(points - free - MaximumBlockMatching(points), colorBound);
    }

    /// <summary>
    /// Whether the lower bound of the remarks reaches <paramref name="planned"/> entries, i.e. no encoding of the stored
    /// runs has fewer. Cheap bounds on the matching decide most cases: at most points / 2 pairs (the bound is reached
    /// without the matching), and at least the pairs a greedy pass over neighbouring points finds (the bound stays
    /// below; then the layered planner runs anyway and the exact matching would be wasted).
    /// </summary>
    private bool LowerBoundReaches(int runCount, int planned)
    {
        int points = CollectChangePoints(runCount, out int free, out int colorBound);
        if (colorBound >= planned || points - free - (points / 2) >= planned)
        {
            return true;
        }

        int greedy = 0;
        for (int i = 0; i + 1 < points; i++)
        {
            ulong u = _points[i];
            ulong size = _points[i + 1] - u;
            if (BitOperations.IsPow2(size) && (u & (size - 1)) == 0)
            {
                greedy++;
                i++;
            }
        }

        return points - free - greedy >= planned && points - free - MaximumBlockMatching(points) >= planned;
    }

    /// <summary>
    /// Stores the change points of the stored runs in <c>_points</c> (sorted, without 0 and the top of the space) and
    /// returns how many; <paramref name="free"/> is 1 when the free bound is one of them, <paramref name="colorBound"/>
    /// the number of colours shown.
    /// </summary>
    private int CollectChangePoints(int runCount, out int free, out int colorBound)
    {
        int points = 0;
        int colors = 0;
        ulong previousEnd = 0;
        for (int i = 0; i < runCount; i++)
        {
            Run run = _runs[i];
            colors |= 1 << ColorOf(run.Config);
            if ((run.Start != previousEnd || i == 0) && run.Start != 0)
            {
                _points[points++] = run.Start;
            }

            if (run.End != _addressLimit)
            {
                _points[points++] = run.End;
            }

            previousEnd = run.End;
        }

        free = 0;
        if (_freeBound != 0)
        {
            for (int i = 0; i < points; i++)
            {
                if (_points[i] == _freeBound)
                {
                    free = 1;
                    break;
                }
            }
        }

        colorBound = BitOperations.PopCount((uint)colors);
        return points;
    }

    /// <summary>
    /// The maximum matching of the first <paramref name="count"/> entries of <c>_points</c> (sorted, distinct, non-zero),
    /// two points joined when they bound a naturally aligned power-of-two block.
    /// </summary>
    private int MaximumBlockMatching(int count)
    {
        // Arcs in pre-order: start ascending, then end descending (larger first), so every arc's descendants follow it.
        int arcs = 0;
        for (int i = 0; i < count - 1; i++)
        {
            ulong u = _points[i];
            ulong alignment = u & (0 - u);
            int last = i;
            while (last + 1 < count && _points[last + 1] - u <= alignment)
            {
                last++;
            }

            for (int j = last; j > i; j--)
            {
                if (BitOperations.IsPow2(_points[j] - u))
                {
                    _arcFrom[arcs] = i;
                    _arcTo[arcs] = j;
                    arcs++;
                }
            }
        }

        if (arcs == 0)
        {
            return 0;
        }

        int next = 0;
        Window(ref next, arcs, 0, count - 1, out _, out _, out _, out int best);
        return best;
    }

    /// <summary>
    /// The largest matching among the points of the window <c>[from, to]</c> (point indices) using the arcs from
    /// <paramref name="next"/> on that lie inside it (the window's own arc excluded), for each availability of its left
    /// end (first digit) and right end (second digit); advances <paramref name="next"/> past them.
    /// </summary>
    /// <remarks>
    /// The window's children (the largest arcs inside it) lie side by side, a child possibly starting where the previous
    /// one ends (the frontier). Per availability of the left end, <c>free</c> is the best so far with the frontier left
    /// free for the next child and <c>taken</c> the best when the previous child may have used it.
    /// </remarks>
    private void Window(ref int next, int arcs, int from, int to, out int w00, out int w01, out int w10, out int w11)
    {
        int free0 = 0, taken0 = NoValue, free1 = 0, taken1 = NoValue;
        int frontier = -1;
        bool closed = false; // a child ended at the window's right end: w** are final
        w00 = w01 = w10 = w11 = 0;
        while (next < arcs && _arcFrom[next] >= from && _arcTo[next] <= to)
        {
            int childFrom = _arcFrom[next];
            int childTo = _arcTo[next];
            next++;
            Window(ref next, arcs, childFrom, childTo, out int c00, out int c01, out int c10, out int c11);
            c11 = Math.Max(c11, 1 + c00); // the child's own arc joins its two ends

            bool sharesLeft = childFrom == from;
            bool joins = childFrom == frontier;
            if (childTo == to)
            {
                // The last child: its right end is the window's, whose availability is the caller's to choose.
                Combine(sharesLeft, joins, 0, free0, taken0, c00, c10, out w00);
                Combine(sharesLeft, joins, 0, free0, taken0, c01, c11, out w01);
                Combine(sharesLeft, joins, 1, free1, taken1, c00, c10, out w10);
                Combine(sharesLeft, joins, 1, free1, taken1, c01, c11, out w11);
                closed = true;
                break;
            }

            Combine(sharesLeft, joins, 0, free0, taken0, c00, c10, out int f0);
            Combine(sharesLeft, joins, 0, free0, taken0, c01, c11, out int g0);
            Combine(sharesLeft, joins, 1, free1, taken1, c00, c10, out int f1);
            Combine(sharesLeft, joins, 1, free1, taken1, c01, c11, out int g1);
            free0 = f0;
            taken0 = g0;
            free1 = f1;
            taken1 = g1;
            frontier = childTo;
        }

        if (!closed)
        {
            w00 = w01 = Math.Max(free0, taken0);
            w10 = w11 = Math.Max(free1, taken1);
        }
    }

    /// <summary>
    /// One child after the state (<paramref name="free"/>, <paramref name="taken"/>) of a window whose left end has
    /// availability <paramref name="fu"/>: <paramref name="whenFree"/> and <paramref name="whenTaken"/> are the child's
    /// best with its left end available or not (for one fixed use of its right end); <paramref name="result"/> is the
    /// best after it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Combine(bool sharesLeft, bool joinsFrontier, int fu, int free, int taken, int whenTaken, int whenFree, out int result)
    {
        if (sharesLeft)
        {
            result = fu == 1 ? whenFree : whenTaken; // the first child: its left end is the window's
        }
        else if (joinsFrontier)
        {
            result = Math.Max(free + whenFree, taken + whenTaken);
        }
        else
        {
            result = Math.Max(free, taken) + whenFree; // a fresh left end
        }
    }
}
