// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities;

/// <summary>
/// Per-domain permission trackers (reference <c>RegionTracker</c>): a sorted list of disjoint ranges with a reference
/// count and one counter per right, always fully coalesced (adjacent ranges with identical counters are merged).
/// </summary>
public sealed partial class CapabilityEngine
{
    private static bool SameCounts(in TrackerNode a, in TrackerNode b) =>
        a.Ref == b.Ref && a.Read == b.Read && a.Write == b.Write && a.Exec == b.Exec && a.Super == b.Super;

    private void LinkTrackerAfter(int domain, int prev, int node)
    {
        int next = prev == NoSlot ? _domains[domain].TrackerHead : _tracker[prev].Next;
        ref TrackerNode n = ref WTracker(node);
        n.Prev = prev;
        n.Next = next;
        n.Salt = ++_h.TrackerSerial;
        if (prev == NoSlot)
        {
            WDomain(domain).TrackerHead = node;
        }
        else
        {
            WTracker(prev).Next = node;
        }

        if (next != NoSlot)
        {
            WTracker(next).Prev = node;
        }

        WDomain(domain).TrackerNodes++;
        TrackerTreapInsert(domain, node);
    }

    private void UnlinkTracker(int domain, int node)
    {
        TrackerTreapDelete(domain, node);
        int prev = _tracker[node].Prev;
        int next = _tracker[node].Next;
        if (prev == NoSlot)
        {
            WDomain(domain).TrackerHead = next;
        }
        else
        {
            WTracker(prev).Next = next;
        }

        if (next != NoSlot)
        {
            WTracker(next).Prev = prev;
        }

        WDomain(domain).TrackerNodes--;
        FreeTracker(node);
    }

    /// <summary>Finds the first node ending after <paramref name="start"/> and its predecessor, in O(log n) through the treap.</summary>
    private void TrackerSeek(int domain, ulong start, out int prev, out int cur)
    {
        int x = TrackerFloor(domain, start);
        if (x == NoSlot)
        {
            prev = NoSlot;
            cur = _domains[domain].TrackerHead;
        }
        else if (_tracker[x].End > start)
        {
            cur = x;
            prev = _tracker[x].Prev;
        }
        else
        {
            prev = x;
            cur = _tracker[x].Next;
        }
    }

    /// <summary>Splits <paramref name="node"/> at <paramref name="at"/> (strictly inside it); returns the right half.</summary>
    private int SplitTracker(int domain, int node, ulong at)
    {
        int right = AllocTracker();
        if (right == NoSlot)
        {
            return NoSlot;
        }

        ref TrackerNode r = ref WTracker(right);
        r = _tracker[node];
        r.Start = at;
        WTracker(node).End = at;
        LinkTrackerAfter(domain, node, right);
        return right;
    }

    /// <summary>Adds one reference over <c>[start, end)</c> with <paramref name="ops"/> (reference <c>add_region</c>).</summary>
    /// <param name="domain">The domain whose tracker changes.</param>
    /// <param name="start">First byte.</param>
    /// <param name="end">One past the last byte.</param>
    /// <param name="ops">The rights counted.</param>
    /// <param name="changed">Set when a reference or right counter crossed 0↔1.</param>
    private CapabilityError TrackerAdd(int domain, ulong start, ulong end, MemoryOperations ops, ref bool changed)
    {
        if (start >= end)
        {
            return CapabilityError.Ok;
        }

        int r = (ops & MemoryOperations.Read) != 0 ? 1 : 0;
        int w = (ops & MemoryOperations.Write) != 0 ? 1 : 0;
        int x = (ops & MemoryOperations.Execute) != 0 ? 1 : 0;
        int s = (ops & MemoryOperations.Super) != 0 ? 1 : 0;

        TrackerSeek(domain, start, out int prev, out int cur);

        int before = prev;
        ulong pos = start;
        while (pos < end)
        {
            if (cur == NoSlot || _tracker[cur].Start > pos)
            {
                ulong gapEnd = cur == NoSlot || _tracker[cur].Start >= end ? end : _tracker[cur].Start;
                int n = AllocTracker();
                if (n == NoSlot)
                {
                    return CapabilityError.OutOfMemory;
                }

                ref TrackerNode t = ref WTracker(n);
                t = default;
                t.Start = pos;
                t.End = gapEnd;
                t.Ref = 1;
                t.Read = r;
                t.Write = w;
                t.Exec = x;
                t.Super = s;
                LinkTrackerAfter(domain, prev, n);
                changed = true;
                prev = n;
                pos = gapEnd;
                continue;
            }

            if (_tracker[cur].Start < pos)
            {
                int right = SplitTracker(domain, cur, pos);
                if (right == NoSlot)
                {
                    return CapabilityError.OutOfMemory;
                }

                prev = cur;
                cur = right;
            }

            if (_tracker[cur].End > end && SplitTracker(domain, cur, end) == NoSlot)
            {
                return CapabilityError.OutOfMemory;
            }

            ref TrackerNode c = ref WTracker(cur);
            if ((r != 0 && c.Read == 0) || (w != 0 && c.Write == 0) || (x != 0 && c.Exec == 0) || (s != 0 && c.Super == 0))
            {
                changed = true;
            }

            c.Ref++;
            c.Read += r;
            c.Write += w;
            c.Exec += x;
            c.Super += s;
            pos = c.End;
            prev = cur;
            cur = c.Next;
        }

        Coalesce(domain, before, end);
        return CapabilityError.Ok;
    }

    /// <summary>Removes one reference over <c>[start, end)</c> (reference <c>remove_region</c>); holes inside are skipped.</summary>
    private CapabilityError TrackerRemove(int domain, ulong start, ulong end, MemoryOperations ops, ref bool changed)
    {
        if (start >= end)
        {
            return CapabilityError.Ok;
        }

        int r = (ops & MemoryOperations.Read) != 0 ? 1 : 0;
        int w = (ops & MemoryOperations.Write) != 0 ? 1 : 0;
        int x = (ops & MemoryOperations.Execute) != 0 ? 1 : 0;
        int s = (ops & MemoryOperations.Super) != 0 ? 1 : 0;

        TrackerSeek(domain, start, out int prev, out int cur);

        if (cur == NoSlot || _tracker[cur].Start > start)
        {
            return CapabilityError.InvalidRegion;
        }

        int before = prev;
        while (cur != NoSlot && _tracker[cur].Start < end)
        {
            if (_tracker[cur].Start < start)
            {
                int right = SplitTracker(domain, cur, start);
                if (right == NoSlot)
                {
                    return CapabilityError.OutOfMemory;
                }

                prev = cur;
                cur = right;
            }

            if (_tracker[cur].End > end && SplitTracker(domain, cur, end) == NoSlot)
            {
                return CapabilityError.OutOfMemory;
            }

            ref TrackerNode c = ref WTracker(cur);
            if (c.Ref < 1 || c.Read < r || c.Write < w || c.Exec < x || c.Super < s)
            {
                return CapabilityError.InternalRegionError;
            }

            c.Ref--;
            c.Read -= r;
            c.Write -= w;
            c.Exec -= x;
            c.Super -= s;
            if ((r != 0 && c.Read == 0) || (w != 0 && c.Write == 0) || (x != 0 && c.Exec == 0) || (s != 0 && c.Super == 0))
            {
                changed = true;
            }

            int next = c.Next;
            if (c.Ref == 0)
            {
                changed = true;
                UnlinkTracker(domain, cur);
            }
            else
            {
                prev = cur;
            }

            cur = next;
        }

        Coalesce(domain, before, end);
        return CapabilityError.Ok;
    }

    /// <summary>
    /// Swaps one reference's rights from <paramref name="from"/> to <paramref name="to"/> over <c>[start, end)</c>: the net
    /// effect of <see cref="TrackerRemove"/> then <see cref="TrackerAdd"/> on the same range, without freeing nodes whose
    /// count drops to zero only to re-create them (and their treap rotations) a moment later. Applies only when every
    /// byte of the range is tracked with at least one reference carrying <paramref name="from"/>; otherwise nothing
    /// changes and <paramref name="applied"/> is false, so the caller runs the two steps.
    /// </summary>
    /// <param name="domain">The domain whose tracker changes.</param>
    /// <param name="start">First byte.</param>
    /// <param name="end">One past the last byte (greater than <paramref name="start"/>).</param>
    /// <param name="from">The rights removed.</param>
    /// <param name="to">The rights added.</param>
    /// <param name="changed">Set when the two-step version would set it: a counter crossed 0↔1 or a node's reference count passed through 0.</param>
    /// <param name="applied">Whether the swap was done (or failed part-way with the error returned).</param>
    private CapabilityError TrackerSwap(int domain, ulong start, ulong end, MemoryOperations from, MemoryOperations to, ref bool changed, out bool applied)
    {
        applied = false;
        int fr = (from & MemoryOperations.Read) != 0 ? 1 : 0;
        int fw = (from & MemoryOperations.Write) != 0 ? 1 : 0;
        int fx = (from & MemoryOperations.Execute) != 0 ? 1 : 0;
        int fs = (from & MemoryOperations.Super) != 0 ? 1 : 0;
        int tr = (to & MemoryOperations.Read) != 0 ? 1 : 0;
        int tw = (to & MemoryOperations.Write) != 0 ? 1 : 0;
        int tx = (to & MemoryOperations.Execute) != 0 ? 1 : 0;
        int ts = (to & MemoryOperations.Super) != 0 ? 1 : 0;

        TrackerSeek(domain, start, out int prev, out int cur);
        if (!TrackerCovers(cur, start, end, fr, fw, fx, fs))
        {
            return CapabilityError.Ok;
        }

        applied = true;
        int before = prev;
        ulong pos = start;
        while (pos < end)
        {
            if (_tracker[cur].Start < pos)
            {
                int right = SplitTracker(domain, cur, pos);
                if (right == NoSlot)
                {
                    return CapabilityError.OutOfMemory;
                }

                cur = right;
            }

            if (_tracker[cur].End > end && SplitTracker(domain, cur, end) == NoSlot)
            {
                return CapabilityError.OutOfMemory;
            }

            ref TrackerNode c = ref WTracker(cur);
            c.Read -= fr;
            c.Write -= fw;
            c.Exec -= fx;
            c.Super -= fs;
            if (c.Ref == 1
                || (fr != 0 && c.Read == 0) || (fw != 0 && c.Write == 0) || (fx != 0 && c.Exec == 0) || (fs != 0 && c.Super == 0)
                || (tr != 0 && c.Read == 0) || (tw != 0 && c.Write == 0) || (tx != 0 && c.Exec == 0) || (ts != 0 && c.Super == 0))
            {
                changed = true;
            }

            c.Read += tr;
            c.Write += tw;
            c.Exec += tx;
            c.Super += ts;
            pos = c.End;
            cur = c.Next;
        }

        Coalesce(domain, before, end);
        return CapabilityError.Ok;
    }

    /// <summary>
    /// Whether every byte of <c>[start, end)</c> is tracked, from node <paramref name="cur"/> (the first node ending after
    /// <paramref name="start"/>) on, by nodes with at least one reference and at least the given right counts.
    /// </summary>
    private bool TrackerCovers(int cur, ulong start, ulong end, int r, int w, int x, int s)
    {
        ulong pos = start;
        for (int n = cur; pos < end; n = _tracker[n].Next)
        {
            if (n == NoSlot || _tracker[n].Start > pos)
            {
                return false;
            }

            ref readonly TrackerNode t = ref _tracker[n];
            if (t.Ref < 1 || t.Read < r || t.Write < w || t.Exec < x || t.Super < s)
            {
                return false;
            }

            pos = t.End;
        }

        return true;
    }

    /// <summary>Merges touching neighbours with identical counters, from <paramref name="from"/> (or the head) up to the first node starting after <paramref name="until"/>.</summary>
    private void Coalesce(int domain, int from, ulong until)
    {
        int cur = from == NoSlot ? _domains[domain].TrackerHead : from;
        while (cur != NoSlot)
        {
            int next = _tracker[cur].Next;
            if (next == NoSlot || _tracker[cur].Start > until)
            {
                return;
            }

            if (_tracker[cur].End == _tracker[next].Start && SameCounts(_tracker[cur], _tracker[next]))
            {
                WTracker(cur).End = _tracker[next].End;
                UnlinkTracker(domain, next);
                continue;
            }

            cur = next;
        }
    }

    /// <summary>Adds a range to a domain's tracker and queues a PermissionUpdate when effective permissions changed (reference <c>activate_region</c>).</summary>
    /// <remarks>Unlike the reference, the tracker is updated even while the domain is being revoked (only the update is suppressed), so a later deactivation never meets a hole (notes §7 item 5).</remarks>
    private CapabilityError Activate(int domain, ulong start, ulong end, MemoryOperations ops)
    {
        bool changed = false;
        CapabilityError e = TrackerAdd(domain, start, end, ops, ref changed);
        if (e != CapabilityError.Ok || !changed || _domains[domain].BeingRevoked)
        {
            return e;
        }

        return PushPermissionUpdate(domain);
    }

    /// <summary>Removes a range from a domain's tracker (reference <c>deactivate_region</c>).</summary>
    private CapabilityError Deactivate(int domain, ulong start, ulong end, MemoryOperations ops)
    {
        bool changed = false;
        CapabilityError e = TrackerRemove(domain, start, end, ops, ref changed);
        if (e != CapabilityError.Ok || !changed || _domains[domain].BeingRevoked)
        {
            return e;
        }

        return PushPermissionUpdate(domain);
    }

    /// <summary>
    /// <see cref="Deactivate"/> with <paramref name="from"/> then <see cref="Activate"/> with <paramref name="to"/> over the
    /// same range of the same domain, fused when possible (see <see cref="TrackerSwap"/>); same final tracker, same
    /// updates, same errors.
    /// </summary>
    private CapabilityError Reactivate(int domain, ulong start, ulong end, MemoryOperations from, MemoryOperations to)
    {
        if (start < end)
        {
            bool changed = false;
            CapabilityError e = TrackerSwap(domain, start, end, from, to, ref changed, out bool applied);
            if (applied)
            {
                return e != CapabilityError.Ok || !changed || _domains[domain].BeingRevoked ? e : PushPermissionUpdate(domain);
            }
        }

        CapabilityError d = Deactivate(domain, start, end, from);
        return d != CapabilityError.Ok ? d : Activate(domain, start, end, to);
    }

    private void FreeAllTracker(int domain)
    {
        int cur = _domains[domain].TrackerHead;
        while (cur != NoSlot)
        {
            int next = _tracker[cur].Next;
            FreeTracker(cur);
            cur = next;
        }

        ref DomainSlot d = ref WDomain(domain);
        d.TrackerHead = NoSlot;
        d.TrackerRoot = NoSlot;
        d.TrackerNodes = 0;
    }

    private static MemoryOperations TrackerOps(in TrackerNode t) =>
        (t.Read > 0 ? MemoryOperations.Read : 0) | (t.Write > 0 ? MemoryOperations.Write : 0)
        | (t.Exec > 0 ? MemoryOperations.Execute : 0) | (t.Super > 0 ? MemoryOperations.Super : 0);
}
