// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.Text;

namespace Tyche.Capabilities;

/// <summary>The invariant checker (SPEC §1, I1–I8; allocation-free, O(n²) at worst) and the test-only state dump.</summary>
public sealed partial class CapabilityEngine
{
    private ref struct ViolationSink
    {
        private readonly Span<InvariantViolation> _destination;

        public ViolationSink(Span<InvariantViolation> destination)
        {
            _destination = destination;
            Count = 0;
        }

        public int Count;

        public void Add(InvariantKind kind, DomainHandle domain, ulong start, ulong end)
        {
            if (Count < _destination.Length)
            {
                _destination[Count] = new InvariantViolation(kind, domain, start, end);
            }

            Count++;
        }
    }

    private int CheckInvariantsCore(Span<InvariantViolation> destination)
    {
        ViolationSink sink = new(destination);
        CheckPools(ref sink);
        CheckTrackers(ref sink);
        CheckRegionTrees(ref sink);
        CheckManagement(ref sink);
        CheckPendingUpdates(ref sink);
        CheckCapabilities(ref sink);
        CheckDevices(ref sink);
        return sink.Count;
    }

    // I7
    private void CheckPools(ref ViolationSink sink)
    {
        int live = 0;
        for (int i = 0; i < _h.DomainFresh; i++)
        {
            if (_domains[i].Live)
            {
                live++;
            }
        }

        int free = 0;
        for (int i = _h.DomainFree; i != NoSlot && free <= _domains.Length; i = _domains[i].NextFree)
        {
            if (_domains[i].Live || i >= _h.DomainFresh)
            {
                sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)i, 0);
            }

            free++;
        }

        if (live != _h.DomainCount || live + free != _h.DomainFresh)
        {
            sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)live, (ulong)_h.DomainCount);
        }

        int liveRegions = 0;
        for (int i = 0; i < _h.RegionFresh; i++)
        {
            if (_regions[i].Live)
            {
                liveRegions++;
            }
        }

        int freeRegions = 0;
        for (int i = _h.RegionFree; i != NoSlot && freeRegions <= _regions.Length; i = _regions[i].NextFree)
        {
            if (_regions[i].Live)
            {
                sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)i, 1);
            }

            freeRegions++;
        }

        if (liveRegions != _h.RegionCount || liveRegions + freeRegions != _h.RegionFresh)
        {
            sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)liveRegions, (ulong)_h.RegionCount);
        }

        int usedTracker = 0;
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            int n = 0;
            for (int t = _domains[d].TrackerHead; t != NoSlot && n <= _tracker.Length; t = _tracker[t].Next)
            {
                n++;
            }

            if (n != _domains[d].TrackerNodes)
            {
                sink.Add(InvariantKind.Pools, HandleOf(d), (ulong)n, (ulong)_domains[d].TrackerNodes);
            }

            usedTracker += n;
            int inOrder = NoSlot;
            int treapNodes = 0;
            if (_domains[d].TrackerRoot == NoSlot)
            {
                // No treap: a short list whose nodes carry no treap links.
                for (int t = _domains[d].TrackerHead; t != NoSlot && treapNodes <= _tracker.Length; t = _tracker[t].Next)
                {
                    treapNodes++;
                    if (_tracker[t].Left != NoSlot || _tracker[t].Right != NoSlot || _tracker[t].Up != NoSlot)
                    {
                        sink.Add(InvariantKind.Pools, HandleOf(d), (ulong)t, 3);
                    }
                }

                if (n > TreapBuildAbove)
                {
                    sink.Add(InvariantKind.Pools, HandleOf(d), (ulong)n, TreapBuildAbove);
                }
            }
            else if (!TrackerTreapConsistent(d, _domains[d].TrackerRoot, NoSlot, ref inOrder, ref treapNodes) || treapNodes != n || n < TreapDropBelow)
            {
                sink.Add(InvariantKind.Pools, HandleOf(d), (ulong)treapNodes, (ulong)n);
            }

            int capFree = 0;
            for (int c = _domains[d].CapFree; c != NoSlot && capFree <= _caps; c = _capSlots[CapSlotIndex(d, c)].NextFree)
            {
                if (c >= _domains[d].CapFresh || _capSlots[CapSlotIndex(d, c)].Allocated)
                {
                    sink.Add(InvariantKind.Pools, HandleOf(d), (ulong)c, 2);
                    break;
                }

                capFree++;
            }
        }

        int freeTracker = 0;
        for (int t = _h.TrackerFree; t != NoSlot && freeTracker <= _tracker.Length; t = _tracker[t].Next)
        {
            freeTracker++;
        }

        if (usedTracker != _h.TrackerCount || usedTracker + freeTracker != _h.TrackerFresh)
        {
            sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)usedTracker, (ulong)_h.TrackerCount);
        }

        // Cores: every running bit points at an initialised core running that domain, and back.
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            BitmapIterator running = new(_domains[d].RunningCores);
            while (running.MoveNext(out int core))
            {
                if (core >= _cores.Length || !_cores[core].Initialized || _cores[core].Domain != d || _cores[core].Generation != _domains[d].Generation)
                {
                    sink.Add(InvariantKind.Pools, HandleOf(d), (ulong)core, 4);
                }
            }
        }

        for (int core = 0; core < _cores.Length; core++)
        {
            if (_cores[core].Initialized && (!IsLiveIndex(_cores[core].Domain, _cores[core].Generation)
                || (_domains[_cores[core].Domain].RunningCores & (1UL << core)) == 0))
            {
                sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)core, 5);
            }
        }

        if (_h.QueueCount < 0 || _h.QueueCount > _updates.Length)
        {
            sink.Add(InvariantKind.Pools, DomainHandle.Invalid, (ulong)_h.QueueCount, 3);
        }
    }

    // I1 and I3 (tracker shape: sorted, disjoint, positive counts, maximal)
    private void CheckTrackers(ref ViolationSink sink)
    {
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            DomainHandle h = HandleOf(d);
            int prev = NoSlot;
            for (int t = _domains[d].TrackerHead; t != NoSlot; t = _tracker[t].Next)
            {
                ref readonly TrackerNode n = ref _tracker[t];
                if (n.Start >= n.End || n.Ref <= 0 || n.Read < 0 || n.Write < 0 || n.Exec < 0 || n.Super < 0
                    || n.Read > n.Ref || n.Write > n.Ref || n.Exec > n.Ref || n.Super > n.Ref)
                {
                    sink.Add(InvariantKind.SystemReferenceCount, h, n.Start, n.End);
                }

                if (prev != NoSlot && (_tracker[prev].End > n.Start || (_tracker[prev].End == n.Start && SameCounts(_tracker[prev], n))))
                {
                    sink.Add(InvariantKind.SystemReferenceCount, h, n.Start, n.End);
                }

                prev = t;
            }

            // I1: compare, at every elementary point, the tracker's counters with the sum over owned regions' effective ranges.
            ulong cur = 0;
            bool first = true;
            while (NextDomainBoundary(d, cur, first, out ulong point))
            {
                first = false;
                ExpectedCounts(d, point, out int er, out int rr, out int rw, out int rx, out int rs);
                int t = TrackerAt(d, point);
                bool ok = t == NoSlot
                    ? er == 0
                    : _tracker[t].Ref == er && _tracker[t].Read == rr && _tracker[t].Write == rw && _tracker[t].Exec == rx && _tracker[t].Super == rs;
                if (!ok)
                {
                    sink.Add(InvariantKind.TrackerMatchesRegions, h, point, t == NoSlot ? point : _tracker[t].End);
                }

                cur = point;
            }
        }
    }

    private bool NextDomainBoundary(int d, ulong after, bool inclusive, out ulong next)
    {
        bool found = false;
        next = ulong.MaxValue;
        for (int t = _domains[d].TrackerHead; t != NoSlot; t = _tracker[t].Next)
        {
            Consider(_tracker[t].Start, after, inclusive, ref next, ref found);
            Consider(_tracker[t].End, after, inclusive, ref next, ref found);
        }

        for (int r = 0; r < _h.RegionFresh; r++)
        {
            if (_regions[r].Live && _regions[r].Owner == d)
            {
                Consider(_regions[r].Start, after, inclusive, ref next, ref found);
                Consider(_regions[r].End, after, inclusive, ref next, ref found);
                for (int c = _regions[r].FirstChild; c != NoSlot; c = _regions[c].NextSibling)
                {
                    Consider(_regions[c].Start, after, inclusive, ref next, ref found);
                    Consider(_regions[c].End, after, inclusive, ref next, ref found);
                }
            }
        }

        return found;

        static void Consider(ulong value, ulong after, bool inclusive, ref ulong next, ref bool found)
        {
            if ((value > after || (inclusive && value == after)) && (!found || value < next))
            {
                next = value;
                found = true;
            }
        }
    }

    private void ExpectedCounts(int d, ulong point, out int refs, out int read, out int write, out int exec, out int super)
    {
        refs = read = write = exec = super = 0;
        for (int r = 0; r < _h.RegionFresh; r++)
        {
            ref readonly RegionNode n = ref _regions[r];
            if (!n.Live || n.Owner != d || point < n.Start || point >= n.End)
            {
                continue;
            }

            bool carvedOut = false;
            for (int c = n.FirstChild; c != NoSlot; c = _regions[c].NextSibling)
            {
                if (_regions[c].Kind == RegionCarve && point >= _regions[c].Start && point < _regions[c].End)
                {
                    carvedOut = true;
                    break;
                }
            }

            if (carvedOut)
            {
                continue;
            }

            refs++;
            read += (n.Ops & MemoryOperations.Read) != 0 ? 1 : 0;
            write += (n.Ops & MemoryOperations.Write) != 0 ? 1 : 0;
            exec += (n.Ops & MemoryOperations.Execute) != 0 ? 1 : 0;
            super += (n.Ops & MemoryOperations.Super) != 0 ? 1 : 0;
        }
    }

    // I2
    private void CheckRegionTrees(ref ViolationSink sink)
    {
        for (int r = 0; r < _h.RegionFresh; r++)
        {
            ref readonly RegionNode n = ref _regions[r];
            if (!n.Live)
            {
                continue;
            }

            DomainHandle owner = _domains[n.Owner].Live ? HandleOf(n.Owner) : DomainHandle.Invalid;
            if (!_domains[n.Owner].Live)
            {
                sink.Add(InvariantKind.RegionTree, owner, n.Start, n.End);
            }

            if (n.Kind != RegionRoot)
            {
                ref readonly RegionNode p = ref _regions[n.Parent];
                if (!p.Live || n.Start < p.Start || n.End > p.End || n.Start > n.End
                    || (n.Ops & ~(p.Ops | MemoryOperations.Attributes)) != 0)
                {
                    sink.Add(InvariantKind.RegionTree, owner, n.Start, n.End);
                }
            }

            int count = 0;
            int carves = 0;
            ulong lastStart = 0;
            for (int c = n.FirstChild; c != NoSlot; c = _regions[c].NextSibling)
            {
                ref readonly RegionNode child = ref _regions[c];
                count++;
                if (child.Kind == RegionCarve)
                {
                    carves++;
                }

                if (child.Parent != r || child.Start < lastStart)
                {
                    sink.Add(InvariantKind.RegionTree, owner, child.Start, child.End);
                }

                lastStart = child.Start;
                for (int o = child.NextSibling; o != NoSlot; o = _regions[o].NextSibling)
                {
                    ref readonly RegionNode other = ref _regions[o];
                    bool overlap = other.End > child.Start && other.Start < child.End;
                    if (overlap && (child.Kind == RegionCarve || other.Kind == RegionCarve))
                    {
                        sink.Add(InvariantKind.RegionTree, owner, other.Start, other.End);
                    }
                }
            }

            int inOrderChild = n.FirstChild;
            int treapCount = 0;
            if (n.ChildRoot == NoSlot)
            {
                // No treap: a short list of lone leaves.
                for (int c = n.FirstChild; c != NoSlot && treapCount <= _regions.Length; c = _regions[c].NextSibling)
                {
                    treapCount++;
                    ref readonly RegionNode leaf = ref _regions[c];
                    if (leaf.CLeft != NoSlot || leaf.CRight != NoSlot || leaf.CUp != NoSlot || leaf.SubMaxEnd != leaf.End
                        || leaf.SubCarveMaxEnd != (leaf.Kind == RegionCarve ? leaf.End : 0))
                    {
                        sink.Add(InvariantKind.RegionTree, owner, leaf.Start, leaf.End);
                    }
                }

                if (count > TreapBuildAbove)
                {
                    sink.Add(InvariantKind.RegionTree, owner, n.Start, n.End);
                }
            }
            else if (!ChildTreapConsistent(n.ChildRoot, NoSlot, ref inOrderChild, ref treapCount) || treapCount != count || inOrderChild != NoSlot
                || count < TreapDropBelow)
            {
                sink.Add(InvariantKind.RegionTree, owner, n.Start, n.End);
            }

            if (count != n.ChildCount || carves != n.CarveCount)
            {
                sink.Add(InvariantKind.RegionTree, owner, n.Start, n.End);
            }
        }
    }

    /// <summary>In-order walk of a tracker treap: parent links, heap order, and the order of the linked list.</summary>
    private bool TrackerTreapConsistent(int d, int x, int up, ref int previous, ref int count)
    {
        if (x == NoSlot)
        {
            return true;
        }

        if (_tracker[x].Up != up || count > _tracker.Length || (up != NoSlot && TrackerPriority(x) > TrackerPriority(up)))
        {
            return false;
        }

        if (!TrackerTreapConsistent(d, _tracker[x].Left, x, ref previous, ref count))
        {
            return false;
        }

        int expected = previous == NoSlot ? _domains[d].TrackerHead : _tracker[previous].Next;
        if (expected != x || _tracker[x].Prev != previous)
        {
            return false;
        }

        previous = x;
        count++;
        return TrackerTreapConsistent(d, _tracker[x].Right, x, ref previous, ref count);
    }

    /// <summary>In-order walk of a children treap against the sibling list, checking parent links and aggregates.</summary>
    private bool ChildTreapConsistent(int x, int up, ref int expected, ref int count)
    {
        if (x == NoSlot)
        {
            return true;
        }

        ref readonly RegionNode n = ref _regions[x];
        if (n.CUp != up || count > _regions.Length || (up != NoSlot && ChildPriority(x) > ChildPriority(up)))
        {
            return false;
        }

        ulong all = n.End;
        ulong carves = n.Kind == RegionCarve ? n.End : 0;
        if (n.CLeft != NoSlot)
        {
            all = Math.Max(all, _regions[n.CLeft].SubMaxEnd);
            carves = Math.Max(carves, _regions[n.CLeft].SubCarveMaxEnd);
        }

        if (n.CRight != NoSlot)
        {
            all = Math.Max(all, _regions[n.CRight].SubMaxEnd);
            carves = Math.Max(carves, _regions[n.CRight].SubCarveMaxEnd);
        }

        if (all != n.SubMaxEnd || carves != n.SubCarveMaxEnd || !ChildTreapConsistent(n.CLeft, x, ref expected, ref count) || expected != x)
        {
            return false;
        }

        expected = n.NextSibling;
        count++;
        return ChildTreapConsistent(n.CRight, x, ref expected, ref count);
    }

    // I4
    private void CheckManagement(ref ViolationSink sink)
    {
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            int m = _domains[d].Manager;
            if (m != NoSlot && !IsLiveIndex(m, _domains[d].ManagerGeneration))
            {
                sink.Add(InvariantKind.ManagementTree, HandleOf(d), (ulong)m, 0);
                continue;
            }

            int cur = d;
            int steps = 0;
            while (cur != NoSlot && steps <= _domains.Length)
            {
                int next = _domains[cur].Manager;
                if (next == NoSlot || !IsLiveIndex(next, _domains[cur].ManagerGeneration))
                {
                    break;
                }

                cur = next;
                steps++;
                if (cur == d)
                {
                    steps = _domains.Length + 1;
                }
            }

            if (steps > _domains.Length)
            {
                sink.Add(InvariantKind.ManagementTree, HandleOf(d), (ulong)d, 1);
            }
        }
    }

    // I5
    private void CheckPendingUpdates(ref ViolationSink sink)
    {
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            DomainHandle h = HandleOf(d);
            int pending = 0;
            for (int k = 0; k < _h.QueueCount; k++)
            {
                ref readonly Update u = ref _updates[(_h.QueueHead + k) % _updates.Length];
                if (u.Kind == UpdateKind.PermissionUpdate && u.Domain == h)
                {
                    pending++;
                }
            }

            if (pending > 1 || pending != _domains[d].PendingPermissionUpdates)
            {
                sink.Add(InvariantKind.PendingPermissionUpdates, h, (ulong)pending, (ulong)_domains[d].PendingPermissionUpdates);
            }
        }
    }

    // I6
    private void CheckCapabilities(ref ViolationSink sink)
    {
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            int fresh = _domains[d].CapFresh;
            for (int local = 0; local < fresh; local++)
            {
                int s = CapSlotIndex(d, local);
                if (!IsCapValid(s))
                {
                    continue;
                }

                ref readonly CapSlot c = ref _capSlots[s];
                bool ok = c.Kind switch
                {
                    CapabilityKind.Region => _regions[c.Target].Owner == d,
                    CapabilityKind.Management => _domains[c.Target].Manager == d,
                    CapabilityKind.DeviceRevoke => c.Target < _h.DeviceCount,
                    _ => true,
                };
                if (!ok)
                {
                    sink.Add(InvariantKind.CapabilityTargets, HandleOf(d), (ulong)local, (ulong)c.Kind);
                }
            }
        }

        for (int r = 0; r < _h.RegionFresh; r++)
        {
            if (!_regions[r].Live)
            {
                continue;
            }

            int owner = _regions[r].Owner;
            bool held = false;
            for (int local = 0; local < _domains[owner].CapFresh && !held; local++)
            {
                int s = CapSlotIndex(owner, local);
                held = _capSlots[s].Allocated && _capSlots[s].Kind == CapabilityKind.Region && _capSlots[s].Target == r && IsCapValid(s);
            }

            if (!held)
            {
                sink.Add(InvariantKind.CapabilityTargets, _domains[owner].Live ? HandleOf(owner) : DomainHandle.Invalid, _regions[r].Start, _regions[r].End);
            }
        }
    }

    // I8
    private void CheckDevices(ref ViolationSink sink)
    {
        for (int i = 0; i < _h.DeviceCount; i++)
        {
            ref readonly DeviceSlot dev = ref _devices[i];
            bool ok = _domains[dev.Owner].Live && dev.CapDomain == dev.Owner;
            if (ok)
            {
                int s = CapSlotIndex(dev.CapDomain, dev.CapIndex);
                ok = _capSlots[s].Allocated && _capSlots[s].Kind == CapabilityKind.Device && _capSlots[s].Target == i;
            }

            if (ok)
            {
                for (int j = 0; j < i; j++)
                {
                    if (_devices[j].Id == dev.Id)
                    {
                        ok = false;
                    }
                }
            }

            if (!ok)
            {
                sink.Add(InvariantKind.DeviceOwnership, DomainHandle.Invalid, (ulong)dev.Id.GetHashCode(), (ulong)i);
            }
        }
    }

    // ------------------------------------------------------------------ test hooks

    /// <summary>Test hook: corrupts the first tracker node of a domain (adds <paramref name="delta"/> to its reference count).</summary>
    internal void CorruptTrackerForTest(DomainHandle domain, int delta)
    {
        if (TryDomainIndex(domain, out int d) && _domains[d].TrackerHead != NoSlot)
        {
            _tracker[_domains[d].TrackerHead].Ref += delta;
        }
    }

    /// <summary>Test hook: sets a domain's manager index directly (to build a management cycle).</summary>
    internal void CorruptManagerForTest(DomainHandle domain, DomainHandle manager)
    {
        if (TryDomainIndex(domain, out int d))
        {
            _domains[d].Manager = manager.Index;
            _domains[d].ManagerGeneration = manager.Generation;
        }
    }

    /// <summary>Test hook (reference <c>find_lower_bound</c>): the start of the tracker node with the greatest start ≤ <paramref name="address"/>.</summary>
    internal bool TryTrackerLowerBound(DomainHandle domain, ulong address, out ulong start, out bool isHead)
    {
        start = 0;
        isHead = false;
        if (!TryDomainIndex(domain, out int d))
        {
            return false;
        }

        int t = TrackerFloor(d, address);
        if (t == NoSlot)
        {
            return false;
        }

        start = _tracker[t].Start;
        isHead = t == _domains[d].TrackerHead;
        return true;
    }

    /// <summary>Test hook (reference <c>get_refcount</c>): the greatest reference count among tracker nodes intersecting the range.</summary>
    internal int TrackerReferenceCount(DomainHandle domain, ulong start, ulong end)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return 0;
        }

        int max = 0;
        for (int t = _domains[d].TrackerHead; t != NoSlot; t = _tracker[t].Next)
        {
            if (_tracker[t].End > start && _tracker[t].Start < end)
            {
                max = Math.Max(max, _tracker[t].Ref);
            }
        }

        return max;
    }

    /// <summary>The number of slots saved in the journal of the current transaction (for tests of the journal).</summary>
    internal int JournalSavedSlots => _journal.SavedSlots;

    /// <summary>Test hook: how many alias, carve, send and revoke calls took their unjournaled fast path.</summary>
    internal int FastPathRuns => _fastPathRuns;

    /// <summary>
    /// A deterministic, complete textual dump of the engine: header scalars, every used pool slot (domains with their
    /// capability tables, region nodes, tracker nodes and free lists), cores, devices and the pending queue. Two engines
    /// whose observable state differs in any way produce different dumps. Test-only; allocates.
    /// </summary>
    internal string DumpState()
    {
        StringBuilder sb = new();
        CultureInfo ci = CultureInfo.InvariantCulture;
        sb.Append(ci, $"header id={_h.IdCounter} dom(fresh={_h.DomainFresh} free={_h.DomainFree} count={_h.DomainCount}) ");
        sb.Append(ci, $"reg(fresh={_h.RegionFresh} free={_h.RegionFree} count={_h.RegionCount} seq={_h.RegionSequence}) ");
        sb.Append(ci, $"trk(fresh={_h.TrackerFresh} free={_h.TrackerFree} count={_h.TrackerCount}) ");
        sb.Append(ci, $"dev(count={_h.DeviceCount} serial={_h.DeviceSerial}) queue(head={_h.QueueHead} count={_h.QueueCount})\n");
        for (int i = 0; i < _h.DomainFresh; i++)
        {
            ref readonly DomainSlot d = ref _domains[i];
            sb.Append(ci, $"domain {i} live={d.Live} gen={d.Generation} next={d.NextFree} id={d.Id} mgr={d.Manager}/{d.ManagerGeneration} ");
            sb.Append(ci, $"perm=0x{d.Permissions:x} traps=0x{d.Traps:x} cores=0x{d.CoreMap:x} set={d.ConfigSet} sealed={d.Sealed} io={d.IsIo} ");
            sb.Append(ci, $"revoking={d.BeingRevoked} running=0x{d.RunningCores:x} capFresh={d.CapFresh} capFree={d.CapFree} ");
            sb.Append(ci, $"trkHead={d.TrackerHead} trkRoot={d.TrackerRoot} trkNodes={d.TrackerNodes} pending={d.PendingPermissionUpdates} meas={d.HasMeasurement}:{(d.HasMeasurement ? _hashes[_regions.Length + i].ToString() : "-")}\n");
            for (int local = 0; local < d.CapFresh; local++)
            {
                ref readonly CapSlot c = ref _capSlots[CapSlotIndex(i, local)];
                sb.Append(ci, $"  capa {local} alloc={c.Allocated} kind={c.Kind} next={c.NextFree} target={c.Target}/{c.TargetGeneration} core={c.Core} serial={c.Serial}\n");
            }

            for (int t = d.TrackerHead; t != NoSlot; t = _tracker[t].Next)
            {
                ref readonly TrackerNode n = ref _tracker[t];
                sb.Append(ci, $"  tracker #{t} [0x{n.Start:x}, 0x{n.End:x}) {n.Ref} ({n.Read} {n.Write} {n.Exec} {n.Super}) prev={n.Prev} l={n.Left} r={n.Right} up={n.Up}\n");
            }
        }

        for (int i = 0; i < _h.RegionFresh; i++)
        {
            ref readonly RegionNode r = ref _regions[i];
            sb.Append(ci, $"region {i} live={r.Live} gen={r.Generation} next={r.NextFree} kind={r.Kind} owner={r.Owner} parent={r.Parent} ");
            sb.Append(ci, $"[0x{r.Start:x}, 0x{r.End:x}) ops=0x{(int)r.Ops:x} conf={r.Confidential} policy={r.Policy} hash={r.HasHash}:{(r.HasHash ? _hashes[i].ToString() : "-")} revoking={r.BeingRevoked}/{r.DeferredRevoke} ");
            sb.Append(ci, $"children={r.FirstChild}..{r.LastChild} sib={r.PrevSibling}/{r.NextSibling} n={r.ChildCount} carves={r.CarveCount} seq={r.Sequence} ");
            sb.Append(ci, $"treap root={r.ChildRoot} l={r.CLeft} r={r.CRight} up={r.CUp} max=0x{r.SubMaxEnd:x} carveMax=0x{r.SubCarveMaxEnd:x}\n");
        }

        sb.Append("tracker free:");
        int guard = 0;
        for (int t = _h.TrackerFree; t != NoSlot && guard++ <= _tracker.Length; t = _tracker[t].Next)
        {
            sb.Append(ci, $" {t}");
        }

        sb.Append('\n');
        for (int i = 0; i < _cores.Length; i++)
        {
            if (_cores[i].Initialized)
            {
                sb.Append(ci, $"core {i} domain={_cores[i].Domain}/{_cores[i].Generation}\n");
            }
        }

        for (int i = 0; i < _h.DeviceCount; i++)
        {
            ref readonly DeviceSlot v = ref _devices[i];
            sb.Append(ci, $"device {i} {v.Id} owner={v.Owner} root={v.RootOwner}/{v.RootOwnerGeneration} prev={v.PreviousOwner}/{v.PreviousOwnerGeneration} capa={v.CapDomain}:{v.CapIndex}\n");
        }

        for (int k = 0; k < _h.QueueCount; k++)
        {
            sb.Append("update ").Append(_updates[(_h.QueueHead + k) % _updates.Length].ToString()).Append('\n');
        }

        return sb.ToString();
    }
}
