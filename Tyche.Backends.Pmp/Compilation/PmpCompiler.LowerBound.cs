// SPDX-License-Identifier: Apache-2.0
using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
/// still free?). Time O(points · span + arcs), no allocation.</para>
/// </remarks>
public sealed partial class PmpCompiler
{
    private const int NoValue = -1_000_000;
    private const int MaxArcs = 2 * MaxPositions;

    private readonly ulong[] _points = new ulong[MaxPositions];
    private readonly int[] _arcFrom = new int[MaxArcs];
    private readonly int[] _arcTo = new int[MaxArcs];

    // The open windows of the tree walk (index 0: the whole list of points, which is not an arc itself).
    private readonly int[] _frameFrom = new int[MaxArcs + 1];
    private readonly int[] _frameTo = new int[MaxArcs + 1];
    private readonly int[] _frameFrontier = new int[MaxArcs + 1];
    private readonly bool[] _frameIsArc = new bool[MaxArcs + 1];

    // Per frame, the best matching so far for each availability of the window's left end (fu) and right end (fv) and
    // whether the frontier (the right end of the last child) is still free (r = 0) or may be taken (r = 1): [fu, fv, r].
    private readonly int[] _frameBest = new int[(MaxArcs + 1) * 8];

    /// <summary>Test hook: the lower bound for <paramref name="ranges"/> (−1 when they do not normalize or exceed the run scratch).</summary>
    internal int LowerBoundOf(ReadOnlySpan<Tyche.Capabilities.MemoryPermission> ranges)
    {
        PmpStatus status = Normalize(ranges, out int runCount, out _, out _);
        return status != PmpStatus.Ok || runCount > _runs.Length ? -1 : LowerBound(runCount);
    }

    /// <summary>Test hook: <see cref="MaximumBlockMatching"/> of <paramref name="points"/> (sorted, distinct, non-zero).</summary>
    internal int MaximumBlockMatchingOf(ReadOnlySpan<ulong> points)
    {
        points.CopyTo(_points);
        return MaximumBlockMatching(points.Length);
    }

    /// <summary>
    /// The lower bound of the remarks for the stored runs, or <paramref name="atMost"/> when the bound reaches it (the
    /// caller only asks whether a plan of that many entries can be beaten; the matching is skipped when its cheap upper
    /// bound already settles it).
    /// </summary>
    private int LowerBound(int runCount, int atMost = int.MaxValue)
    {
        int points = 0;
        int colors = 0;
        ulong previousEnd = 0;
        for (int i = 0; i < runCount; i++)
        {
            Run run = _runs[i];
            colors |= 1 << ColorOf(run.Config);
            if (run.Start != previousEnd || i == 0)
            {
                if (run.Start != 0)
                {
                    _points[points++] = run.Start;
                }
            }

            if (run.End != _addressLimit)
            {
                _points[points++] = run.End;
            }

            previousEnd = run.End;
        }

        int free = 0;
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

        int colorBound = BitOperations.PopCount((uint)colors);
        if (atMost <= Math.Max(points - free - (points / 2), colorBound))
        {
            // A matching has at most points / 2 pairs: the cheap form of the bound already reaches the plan in hand.
            return atMost;
        }

        return Math.Max(points - free - MaximumBlockMatching(points), colorBound);
    }

    /// <summary>
    /// The maximum matching of the first <paramref name="count"/> entries of <c>_points</c> (sorted, distinct, non-zero),
    /// two points joined when they bound a naturally aligned power-of-two block.
    /// </summary>
    private int MaximumBlockMatching(int count)
    {
        // Arcs in pre-order: start ascending, then end descending (larger first), so every arc follows its container.
        ref ulong points = ref MemoryMarshal.GetArrayDataReference(_points);
        ref int arcFrom = ref MemoryMarshal.GetArrayDataReference(_arcFrom);
        ref int arcTo = ref MemoryMarshal.GetArrayDataReference(_arcTo);
        int arcs = 0;
        for (int i = 0; i < count; i++)
        {
            ulong u = Unsafe.Add(ref points, i);
            ulong alignment = u & (0 - u); // a block starting at u is at most as large as u's alignment
            int last = i;
            while (last + 1 < count && Unsafe.Add(ref points, last + 1) - u <= alignment)
            {
                last++;
            }

            for (int j = last; j > i; j--)
            {
                if (BitOperations.IsPow2(Unsafe.Add(ref points, j) - u))
                {
                    Unsafe.Add(ref arcFrom, arcs) = i;
                    Unsafe.Add(ref arcTo, arcs) = j;
                    arcs++;
                }
            }
        }

        if (arcs == 0)
        {
            return 0;
        }

        int top = 0;
        OpenFrame(0, 0, count - 1, isArc: false);
        for (int a = 0; a < arcs; a++)
        {
            int from = Unsafe.Add(ref arcFrom, a);
            int to = Unsafe.Add(ref arcTo, a);
            while (top > 0 && !(_frameFrom[top] <= from && to <= _frameTo[top]))
            {
                CloseFrame(ref top);
            }

            OpenFrame(++top, from, to, isArc: true);
        }

        while (top > 0)
        {
            CloseFrame(ref top);
        }

        return Inner(0, fu: 1, fv: 1);
    }

    private void OpenFrame(int frame, int from, int to, bool isArc)
    {
        _frameFrom[frame] = from;
        _frameTo[frame] = to;
        _frameFrontier[frame] = -1;
        _frameIsArc[frame] = isArc;

        // [fu, fv, r]: nothing matched yet with the frontier free (r = 0); no frontier to take yet (r = 1).
        ref int best = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_frameBest), frame * 8);
        for (int k = 0; k < 8; k += 2)
        {
            Unsafe.Add(ref best, k) = 0;
            Unsafe.Add(ref best, k + 1) = NoValue;
        }
    }

    /// <summary>The best matching inside the frame's window (its own arc excluded) for the given end availabilities.</summary>
    private int Inner(int frame, int fu, int fv)
    {
        int at = (frame * 8) + (fu * 4) + (fv * 2);
        return Math.Max(_frameBest[at], _frameBest[at + 1]);
    }

    /// <summary>Finishes the top frame (its arc may join its two ends) and adds it as the next child of the frame below.</summary>
    private void CloseFrame(ref int top)
    {
        int child = top;
        ref int frameBest = ref MemoryMarshal.GetArrayDataReference(_frameBest);
        ref int inner = ref Unsafe.Add(ref frameBest, child * 8);

        // The child's best inside its closed window for each availability of its left end (a) and right end (b).
        int v00 = Math.Max(inner, Unsafe.Add(ref inner, 1));
        int v01 = Math.Max(Unsafe.Add(ref inner, 2), Unsafe.Add(ref inner, 3));
        int v10 = Math.Max(Unsafe.Add(ref inner, 4), Unsafe.Add(ref inner, 5));
        int v11 = Math.Max(Unsafe.Add(ref inner, 6), Unsafe.Add(ref inner, 7));
        if (_frameIsArc[child])
        {
            v11 = Math.Max(v11, 1 + v00);
        }

        top--;
        int parent = top;
        int to = _frameTo[child];
        int from = _frameFrom[child];
        bool sharesLeft = from == _frameFrom[parent];
        bool sharesRight = to == _frameTo[parent];
        ref int best = ref Unsafe.Add(ref frameBest, parent * 8);
        if (sharesLeft || from == _frameFrontier[parent])
        {
            // The child's left end is the window's own left end (first child) or the point the previous child may have
            // taken: r = 0 keeps it free, r = 1 does not.
            if (sharesLeft)
            {
                // fu = 0: the left end is taken by the window's own arc (a = 0 either way); fu = 1: it is free (a = 1).
                AfterSharedLeft(ref best, v00, v01, v00, v01, sharesRight);
                AfterSharedLeft(ref Unsafe.Add(ref best, 4), v10, v11, v10, v11, sharesRight);
            }
            else
            {
                AfterSharedLeft(ref best, v10, v11, v00, v01, sharesRight);
                AfterSharedLeft(ref Unsafe.Add(ref best, 4), v10, v11, v00, v01, sharesRight);
            }
        }
        else
        {
            // A fresh left end: what happened at the frontier no longer matters.
            for (int i = 0; i < 8; i += 2)
            {
                int before = Math.Max(Unsafe.Add(ref best, i), Unsafe.Add(ref best, i + 1));
                int fv = (i >> 1) & 1;
                Unsafe.Add(ref best, i) = Math.Max(before + (sharesRight ? (fv == 0 ? v10 : v11) : v10), NoValue);
                Unsafe.Add(ref best, i + 1) = sharesRight ? NoValue : Math.Max(before + v11, NoValue);
            }
        }

        _frameFrontier[parent] = to;
    }

    /// <summary>
    /// Adds a child whose left end is shared (with the window or the previous child) to the two states <c>[fv, r]</c> of
    /// one <c>fu</c>: from a free frontier (r = 0) the child's left end has availability <c>freeA</c> (values
    /// <paramref name="free0"/>, <paramref name="free1"/> for its right end taken or free), from a taken one
    /// <c>takenA</c> (<paramref name="taken0"/>, <paramref name="taken1"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AfterSharedLeft(ref int best, int free0, int free1, int taken0, int taken1, bool sharesRight)
    {
        for (int fv = 0; fv < 2; fv++)
        {
            ref int state = ref Unsafe.Add(ref best, fv * 2);
            int free = state;
            int taken = Unsafe.Add(ref state, 1);
            int outFree, outTaken;
            if (sharesRight)
            {
                outFree = Math.Max(free + (fv == 0 ? free0 : free1), taken + (fv == 0 ? taken0 : taken1));
                outTaken = NoValue;
            }
            else
            {
                outFree = Math.Max(free + free0, taken + taken0);
                outTaken = Math.Max(free + free1, taken + taken1);
            }

            state = Math.Max(outFree, NoValue);
            Unsafe.Add(ref state, 1) = Math.Max(outTaken, NoValue);
        }
    }
}
