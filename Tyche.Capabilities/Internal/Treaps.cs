// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>
/// Ordered indexes kept beside the linked lists (which keep the reference's order for enumeration, serialization and
/// cascades): a treap per domain over its tracker nodes (key: start) and a treap per region over its children (key:
/// start, then creation sequence) augmented with the maximum end of all children and of carved children in each
/// subtree. Priorities are a hash of the pool index and of the region's generation or the tracker node's link salt
/// (fresh on every reuse of a slot, constant while it is in a treap), so the structure is deterministic; every write goes through the
/// journal like any other pool write.
/// </summary>
public sealed partial class CapabilityEngine
{
    /// <summary>
    /// A tracker or a children list gets its treap when it grows past this many nodes; below it, lookups scan the linked
    /// list, which is faster for short lists and spares every insertion and deletion its rotations.
    /// </summary>
    private const int TreapBuildAbove = 32;

    /// <summary>A treap is dismantled when its list shrinks below this many nodes (hysteresis: a list that oscillates around one size never rebuilds repeatedly).</summary>
    private const int TreapDropBelow = 16;

    /// <summary>
    /// The treap priority of a child region: a hash of its pool index and generation. The generation changes each time
    /// the slot is freed, so a slot reused last-in-first-out (an alias or carve created and revoked over and over) gets a
    /// fresh priority each time instead of one fixed, possibly unlucky, height in the treap; it is constant while the
    /// region is in a treap.
    /// </summary>
    private uint ChildPriority(int region) => Priority((int)((uint)region + (_regions[region].Generation * 0x7FEB352Du)));

    /// <summary>
    /// The treap priority of a tracker node: a hash of its pool index and the salt it got when it was linked into its
    /// tracker, for the same reason as <see cref="ChildPriority"/> (tracker nodes have no generation).
    /// </summary>
    private uint TrackerPriority(int node) => Priority((int)((uint)node + (_tracker[node].Salt * 0x7FEB352Du)));

    private static uint Priority(int index)
    {
        uint x = (uint)index + 0x9E3779B9u;
        x ^= x >> 16;
        x *= 0x85EBCA6Bu;
        x ^= x >> 13;
        x *= 0xC2B2AE35u;
        x ^= x >> 16;
        return x;
    }

    // ------------------------------------------------------------------ tracker treap

    /// <summary>The tracker node with the greatest start ≤ <paramref name="key"/>, or <see cref="NoSlot"/>.</summary>
    private int TrackerFloor(int domain, ulong key)
    {
        int best = NoSlot;
        int x = _domains[domain].TrackerRoot;
        if (x == NoSlot)
        {
            for (x = _domains[domain].TrackerHead; x != NoSlot && _tracker[x].Start <= key; x = _tracker[x].Next)
            {
                best = x;
            }

            return best;
        }

        while (x != NoSlot)
        {
            if (_tracker[x].Start <= key)
            {
                best = x;
                x = _tracker[x].Right;
            }
            else
            {
                x = _tracker[x].Left;
            }
        }

        return best;
    }

    /// <summary>
    /// Inserts node <paramref name="n"/>, already linked into the domain's list: it is attached in O(1) next to its list
    /// neighbours (as the right child of its predecessor when that is free, else as the left child of its successor,
    /// which is then the leftmost node of the predecessor's right subtree), then rotated up by priority. Keys are
    /// unique; with distinct priorities the resulting shape is the one a search from the root would give (on a tie in
    /// priority the new node stays below, which keeps the heap order).
    /// </summary>
    private void TrackerTreapInsert(int domain, int n)
    {
        ref TrackerNode node = ref WTracker(n);
        node.Left = NoSlot;
        node.Right = NoSlot;
        node.Up = NoSlot;
        if (_domains[domain].TrackerRoot == NoSlot)
        {
            if (_domains[domain].TrackerNodes > TreapBuildAbove)
            {
                TrackerTreapBuild(domain);
            }

            return;
        }

        TrackerTreapAttach(domain, n);
    }

    /// <summary>Builds the treap of a tracker that has none, inserting its nodes in list order (each as the right child of the current maximum).</summary>
    private void TrackerTreapBuild(int domain)
    {
        int head = _domains[domain].TrackerHead;
        ref TrackerNode h = ref WTracker(head);
        h.Left = NoSlot;
        h.Right = NoSlot;
        h.Up = NoSlot;
        WDomain(domain).TrackerRoot = head;
        for (int n = _tracker[head].Next; n != NoSlot; n = _tracker[n].Next)
        {
            TrackerTreapAttach(domain, n);
        }
    }

    /// <summary>Removes a tracker's treap: every node's links cleared, lookups scan the list again.</summary>
    private void TrackerTreapDismantle(int domain)
    {
        for (int n = _domains[domain].TrackerHead; n != NoSlot; n = _tracker[n].Next)
        {
            ref readonly TrackerNode t = ref _tracker[n];
            if (t.Left != NoSlot || t.Right != NoSlot || t.Up != NoSlot)
            {
                ref TrackerNode w = ref WTracker(n);
                w.Left = NoSlot;
                w.Right = NoSlot;
                w.Up = NoSlot;
            }
        }

        WDomain(domain).TrackerRoot = NoSlot;
    }

    /// <summary>Attaches node <paramref name="n"/> (links cleared, already in the list) to a non-empty treap and rotates it up.</summary>
    private void TrackerTreapAttach(int domain, int n)
    {
        ref TrackerNode node = ref WTracker(n);
        node.Left = NoSlot;
        node.Right = NoSlot;
        node.Up = NoSlot;
        int prev = node.Prev;
        int x;
        if (prev != NoSlot && _tracker[prev].Right == NoSlot)
        {
            x = prev;
            WTracker(x).Right = n;
        }
        else
        {
            x = node.Next;
            WTracker(x).Left = n;
        }

        node.Up = x;
        uint p = TrackerPriority(n);
        while (_tracker[n].Up != NoSlot && TrackerPriority(_tracker[n].Up) < p)
        {
            TrackerRotateUp(domain, n);
        }
    }

    /// <summary>Removes node <paramref name="n"/> (still in the list) from the treap, if the tracker has one; dismantles the treap when the list is about to become short.</summary>
    private void TrackerTreapDelete(int domain, int n)
    {
        if (_domains[domain].TrackerRoot == NoSlot)
        {
            return;
        }

        TrackerTreapRemove(domain, n);
        if (_domains[domain].TrackerNodes - 1 < TreapDropBelow)
        {
            TrackerTreapDismantle(domain);
        }
    }

    private void TrackerTreapRemove(int domain, int n)
    {
        while (_tracker[n].Left != NoSlot || _tracker[n].Right != NoSlot)
        {
            int l = _tracker[n].Left;
            int r = _tracker[n].Right;
            int child = l == NoSlot ? r : r == NoSlot ? l : TrackerPriority(l) > TrackerPriority(r) ? l : r;
            TrackerRotateUp(domain, child);
        }

        int up = _tracker[n].Up;
        if (up == NoSlot)
        {
            WDomain(domain).TrackerRoot = NoSlot;
        }
        else if (_tracker[up].Left == n)
        {
            WTracker(up).Left = NoSlot;
        }
        else
        {
            WTracker(up).Right = NoSlot;
        }

        WTracker(n).Up = NoSlot;
    }

    /// <summary>Rotates <paramref name="x"/> above its parent.</summary>
    private void TrackerRotateUp(int domain, int x)
    {
        int p = _tracker[x].Up;
        int g = _tracker[p].Up;
        ref TrackerNode xn = ref WTracker(x);
        ref TrackerNode pn = ref WTracker(p);
        if (pn.Left == x)
        {
            int b = xn.Right;
            pn.Left = b;
            if (b != NoSlot)
            {
                WTracker(b).Up = p;
            }

            xn.Right = p;
        }
        else
        {
            int b = xn.Left;
            pn.Right = b;
            if (b != NoSlot)
            {
                WTracker(b).Up = p;
            }

            xn.Left = p;
        }

        pn.Up = x;
        xn.Up = g;
        if (g == NoSlot)
        {
            WDomain(domain).TrackerRoot = x;
        }
        else if (_tracker[g].Left == p)
        {
            WTracker(g).Left = x;
        }
        else
        {
            WTracker(g).Right = x;
        }
    }

    // ------------------------------------------------------------------ children treap

    /// <summary>The child with the greatest start ≤ <paramref name="start"/> (the last such in list order), or <see cref="NoSlot"/>.</summary>
    private int ChildFloor(int parent, ulong start)
    {
        int best = NoSlot;
        int x = _regions[parent].ChildRoot;
        if (x == NoSlot)
        {
            for (x = _regions[parent].FirstChild; x != NoSlot && _regions[x].Start <= start; x = _regions[x].NextSibling)
            {
                best = x;
            }

            return best;
        }

        while (x != NoSlot)
        {
            if (_regions[x].Start <= start)
            {
                best = x;
                x = _regions[x].CRight;
            }
            else
            {
                x = _regions[x].CLeft;
            }
        }

        return best;
    }

    /// <summary>The greatest end among children (or carved children) whose start is below <paramref name="end"/>; 0 when none.</summary>
    private ulong ChildPrefixMaxEnd(int parent, ulong end, bool carvesOnly)
    {
        ulong max = 0;
        int x = _regions[parent].ChildRoot;
        if (x == NoSlot)
        {
            for (x = _regions[parent].FirstChild; x != NoSlot && _regions[x].Start < end; x = _regions[x].NextSibling)
            {
                if (!carvesOnly || _regions[x].Kind == RegionCarve)
                {
                    max = Math.Max(max, _regions[x].End);
                }
            }

            return max;
        }

        while (x != NoSlot)
        {
            ref readonly RegionNode n = ref _regions[x];
            if (n.Start < end)
            {
                if (!carvesOnly || n.Kind == RegionCarve)
                {
                    max = Math.Max(max, n.End);
                }

                if (n.CLeft != NoSlot)
                {
                    max = Math.Max(max, carvesOnly ? _regions[n.CLeft].SubCarveMaxEnd : _regions[n.CLeft].SubMaxEnd);
                }

                x = n.CRight;
            }
            else
            {
                x = n.CLeft;
            }
        }

        return max;
    }

    /// <summary>Recomputes a node's subtree maxima from its children; journals and writes only when they change.</summary>
    /// <returns>Whether the stored maxima changed (when not, no ancestor's maxima can change either).</returns>
    private bool ChildRecompute(int x)
    {
        ref readonly RegionNode n = ref _regions[x];
        ulong all = n.End;
        ulong carves = n.Kind == RegionCarve ? n.End : 0;
        if (n.CLeft != NoSlot)
        {
            ref readonly RegionNode l = ref _regions[n.CLeft];
            all = Math.Max(all, l.SubMaxEnd);
            carves = Math.Max(carves, l.SubCarveMaxEnd);
        }

        if (n.CRight != NoSlot)
        {
            ref readonly RegionNode r = ref _regions[n.CRight];
            all = Math.Max(all, r.SubMaxEnd);
            carves = Math.Max(carves, r.SubCarveMaxEnd);
        }

        if (n.SubMaxEnd == all && n.SubCarveMaxEnd == carves)
        {
            return false;
        }

        ref RegionNode w = ref WRegion(x);
        w.SubMaxEnd = all;
        w.SubCarveMaxEnd = carves;
        return true;
    }

    /// <summary>Recomputes the maxima from <paramref name="x"/> towards the root after one leaf was attached or detached below it, stopping at the first node whose maxima do not change.</summary>
    private void ChildRecomputeUpwards(int x)
    {
        while (x != NoSlot && ChildRecompute(x))
        {
            x = _regions[x].CUp;
        }
    }

    /// <summary>
    /// Inserts child <paramref name="c"/>, already linked into the parent's child list, in O(1) next to its list
    /// neighbours (see <see cref="TrackerTreapInsert"/>), then fixes the maxima upwards and rotates it up by priority.
    /// </summary>
    private void ChildTreapInsert(int parent, int c)
    {
        ChildClearLinks(c);
        if (_regions[parent].ChildRoot == NoSlot)
        {
            if (_regions[parent].ChildCount > TreapBuildAbove)
            {
                ChildTreapBuild(parent);
            }

            return;
        }

        ChildTreapAttach(parent, c);
    }

    /// <summary>Resets a child's treap links and maxima to those of a lone leaf (journaling only when they differ).</summary>
    private void ChildClearLinks(int c)
    {
        ref readonly RegionNode n = ref _regions[c];
        ulong carveMax = n.Kind == RegionCarve ? n.End : 0;
        if (n.CLeft != NoSlot || n.CRight != NoSlot || n.CUp != NoSlot || n.SubMaxEnd != n.End || n.SubCarveMaxEnd != carveMax)
        {
            ref RegionNode w = ref WRegion(c);
            w.CLeft = NoSlot;
            w.CRight = NoSlot;
            w.CUp = NoSlot;
            w.SubMaxEnd = w.End;
            w.SubCarveMaxEnd = carveMax;
        }
    }

    /// <summary>Builds the children treap of a region that has none, in list order (each child as the right child of the current maximum).</summary>
    private void ChildTreapBuild(int parent)
    {
        int first = _regions[parent].FirstChild;
        ChildClearLinks(first);
        WRegion(parent).ChildRoot = first;
        for (int c = _regions[first].NextSibling; c != NoSlot; c = _regions[c].NextSibling)
        {
            ChildClearLinks(c);
            ChildTreapAttach(parent, c);
        }
    }

    /// <summary>Removes a region's children treap: every child becomes a lone leaf again, lookups scan the list.</summary>
    private void ChildTreapDismantle(int parent)
    {
        for (int c = _regions[parent].FirstChild; c != NoSlot; c = _regions[c].NextSibling)
        {
            ChildClearLinks(c);
        }

        WRegion(parent).ChildRoot = NoSlot;
    }

    /// <summary>Attaches child <paramref name="c"/> (a lone leaf, already in the list) to a non-empty treap, fixes the maxima and rotates it up.</summary>
    private void ChildTreapAttach(int parent, int c)
    {
        ref RegionNode node = ref WRegion(c);
        int prev = node.PrevSibling;
        int x;
        if (prev != NoSlot && _regions[prev].CRight == NoSlot)
        {
            x = prev;
            WRegion(x).CRight = c;
        }
        else
        {
            x = node.NextSibling;
            WRegion(x).CLeft = c;
        }

        node.CUp = x;
        ChildRecomputeUpwards(x);
        uint p = ChildPriority(c);
        while (_regions[c].CUp != NoSlot && ChildPriority(_regions[c].CUp) < p)
        {
            ChildRotateUp(parent, c);
        }
    }

    /// <summary>Removes child <paramref name="c"/> (still in the list) from the treap, if the parent has one; dismantles the treap when the list is about to become short.</summary>
    private void ChildTreapDelete(int parent, int c)
    {
        if (_regions[parent].ChildRoot == NoSlot)
        {
            return;
        }

        ChildTreapRemove(parent, c);
        if (_regions[parent].ChildCount - 1 < TreapDropBelow)
        {
            ChildTreapDismantle(parent);
        }
    }

    private void ChildTreapRemove(int parent, int c)
    {
        while (_regions[c].CLeft != NoSlot || _regions[c].CRight != NoSlot)
        {
            int l = _regions[c].CLeft;
            int r = _regions[c].CRight;
            int child = l == NoSlot ? r : r == NoSlot ? l : ChildPriority(l) > ChildPriority(r) ? l : r;
            ChildRotateUp(parent, child);
        }

        int up = _regions[c].CUp;
        if (up == NoSlot)
        {
            WRegion(parent).ChildRoot = NoSlot;
        }
        else
        {
            if (_regions[up].CLeft == c)
            {
                WRegion(up).CLeft = NoSlot;
            }
            else
            {
                WRegion(up).CRight = NoSlot;
            }

            ChildRecomputeUpwards(up);
        }

        WRegion(c).CUp = NoSlot;
    }

    private void ChildRotateUp(int parent, int x)
    {
        int p = _regions[x].CUp;
        int g = _regions[p].CUp;
        ref RegionNode xn = ref WRegion(x);
        ref RegionNode pn = ref WRegion(p);
        if (pn.CLeft == x)
        {
            int b = xn.CRight;
            pn.CLeft = b;
            if (b != NoSlot)
            {
                WRegion(b).CUp = p;
            }

            xn.CRight = p;
        }
        else
        {
            int b = xn.CLeft;
            pn.CRight = b;
            if (b != NoSlot)
            {
                WRegion(b).CUp = p;
            }

            xn.CLeft = p;
        }

        pn.CUp = x;
        xn.CUp = g;
        if (g == NoSlot)
        {
            WRegion(parent).ChildRoot = x;
        }
        else if (_regions[g].CLeft == p)
        {
            WRegion(g).CLeft = x;
        }
        else
        {
            WRegion(g).CRight = x;
        }

        ChildRecompute(p);
        ChildRecompute(x);
    }
}
