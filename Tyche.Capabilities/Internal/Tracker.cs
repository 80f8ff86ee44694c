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
