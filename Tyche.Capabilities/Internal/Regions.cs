// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>Region derivation trees (reference <c>segment.rs</c>): root regions, alias, carve, effective ranges, cascading revocation.</summary>
public sealed partial class CapabilityEngine
{
    private CapabilityError CreateRootRegionCore(DomainHandle domain, in AccessRights access, out LocalCapability region)
    {
        region = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.InvalidCapa;
        }

        if (!HasFreeRegion || !EnsureCapacity(d))
        {
            return CapabilityError.OutOfMemory;
        }

        if (!access.IsValid)
        {
            return CapabilityError.InvalidOperation;
        }

        int r = AllocRegion();
        ref RegionNode n = ref WRegion(r);
        n.Kind = RegionRoot;
        n.Owner = d;
        n.Start = access.Start;
        n.End = access.End;
        n.Ops = access.Operations;
        n.Confidential = true;
        n.Policy = (access.Operations & MemoryOperations.Cleanup) != 0 ? CleanupPolicy.Zero : CleanupPolicy.None;
        n.Sequence = ++_h.RegionSequence;
        CapabilityError e = InsertCap(d, CapabilityKind.Region, r, n.Generation, 0, 0, out int local);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        region = local;
        return Activate(d, access.Start, access.End, RightsOf(access.Operations));
    }

    private static MemoryOperations RightsOf(MemoryOperations ops) => ops & MemoryOperations.Rights;

    /// <summary>Looks up a live Region capability of a live domain.</summary>
    private CapabilityError GetRegionCap(int domain, LocalCapability capability, out int slot, out int region)
    {
        region = NoSlot;
        CapabilityError e = GetCap(domain, capability, out slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (_capSlots[slot].Kind != CapabilityKind.Region)
        {
            return CapabilityError.WrongCapabilityType;
        }

        if (!IsCapValid(slot))
        {
            return CapabilityError.InvalidCapa;
        }

        region = _capSlots[slot].Target;
        return CapabilityError.Ok;
    }

    private CapabilityError DeriveCore(DomainHandle domain, LocalCapability region, in AccessRights access, CleanupPolicy cleanup, bool carve,
        out LocalCapability result)
    {
        result = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        DomainPermissions needed = carve ? DomainPermissions.Carve : DomainPermissions.Alias;
        if ((_domains[d].Permissions & (ulong)needed) != (ulong)needed)
        {
            return CapabilityError.InsufficientPermissions;
        }

        CapabilityError e = GetRegionCap(d, region, out _, out int p);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        int owner = _regions[p].Owner;
        if (!HasFreeRegion || !EnsureCapacity(owner))
        {
            return CapabilityError.OutOfMemory;
        }

        if (!CanDerive(p, access, carve))
        {
            return CapabilityError.InvalidOperation;
        }

        return DeriveApply(p, owner, access, cleanup, carve, out result);
    }

    /// <summary>The mutating part of <see cref="DeriveCore"/>, once every check passed and the owner's table has a free slot.</summary>
    private CapabilityError DeriveApply(int p, int owner, in AccessRights access, CleanupPolicy cleanup, bool carve, out LocalCapability result)
    {
        result = default;
        int c = AllocRegion();
        ref RegionNode n = ref WRegion(c);
        ref readonly RegionNode parent = ref _regions[p];
        n.Kind = carve ? RegionCarve : RegionAlias;
        n.Owner = owner;
        n.Parent = p;
        n.Start = access.Start;
        n.End = access.End;
        n.Ops = access.Operations;
        n.Confidential = carve && parent.Confidential;
        n.Policy = (access.Operations & MemoryOperations.Cleanup) == 0 ? CleanupPolicy.None
            : cleanup == CleanupPolicy.None ? CleanupPolicy.Zero : cleanup;
        n.Sequence = ++_h.RegionSequence;
        InsertChild(p, c);
        CapabilityError e = InsertCap(owner, CapabilityKind.Region, c, n.Generation, 0, 0, out int local);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        result = local;
        if (!carve)
        {
            return Activate(owner, access.Start, access.End, RightsOf(access.Operations));
        }

        MemoryOperations parentOps = _regions[p].Ops;
        if (access.Operations == parentOps)
        {
            return CapabilityError.Ok;
        }

        return Reactivate(owner, access.Start, access.End, RightsOf(parentOps), RightsOf(access.Operations));
    }

    /// <summary>The reference's alias/carve admission: valid, contained, rights ⊆ parent ∪ attributes, no forbidden overlap.</summary>
    private bool CanDerive(int p, in AccessRights access, bool carve)
    {
        ref readonly RegionNode parent = ref _regions[p];
        if (!access.IsValid || access.Start < parent.Start || access.End > parent.End)
        {
            return false;
        }

        if ((access.Operations & ~(parent.Ops | MemoryOperations.Attributes)) != 0)
        {
            return false;
        }

        if (parent.ChildCount == 0)
        {
            return true;
        }

        // Carves overlap no sibling, aliases overlap no carve: the greatest end among the (carved) children starting
        // below the new end must not pass the new start (an O(log n) query on the augmented children treap).
        if (carve)
        {
            return ChildPrefixMaxEnd(p, access.End, false) <= access.Start;
        }

        return parent.CarveCount == 0 || ChildPrefixMaxEnd(p, access.End, true) <= access.Start;
    }

    /// <summary>Inserts a child after every sibling whose start is ≤ its start (stable order, as the reference).</summary>
    private void InsertChild(int p, int c)
    {
        int after = ChildFloor(p, _regions[c].Start);
        ref RegionNode parent = ref WRegion(p);
        ref RegionNode child = ref WRegion(c);
        child.PrevSibling = after;
        if (after == NoSlot)
        {
            child.NextSibling = parent.FirstChild;
            parent.FirstChild = c;
        }
        else
        {
            child.NextSibling = _regions[after].NextSibling;
            WRegion(after).NextSibling = c;
        }

        if (child.NextSibling == NoSlot)
        {
            parent.LastChild = c;
        }
        else
        {
            WRegion(child.NextSibling).PrevSibling = c;
        }

        parent.ChildCount++;
        if (child.Kind == RegionCarve)
        {
            parent.CarveCount++;
        }

        ChildTreapInsert(p, c);
    }

    private void UnlinkChild(int c)
    {
        int p = _regions[c].Parent;
        ChildTreapDelete(p, c);
        ref RegionNode parent = ref WRegion(p);
        int prev = _regions[c].PrevSibling;
        int next = _regions[c].NextSibling;
        if (prev == NoSlot)
        {
            parent.FirstChild = next;
        }
        else
        {
            WRegion(prev).NextSibling = next;
        }

        if (next == NoSlot)
        {
            parent.LastChild = prev;
        }
        else
        {
            WRegion(next).PrevSibling = prev;
        }

        parent.ChildCount--;
        if (_regions[c].Kind == RegionCarve)
        {
            parent.CarveCount--;
        }
    }

    /// <summary>
    /// Revokes a region subtree (reference <c>segment::revoke</c>): children first (post-order, lowest address first),
    /// then the node; carved memory flows back to the parent's current owner; VITAL kills the owner; CLEANUP queues a
    /// Cleanup update when the region is writable or its policy flushes.
    /// </summary>
    private CapabilityError RevokeRegion(int r)
    {
        if (_regions[r].Kind == RegionRoot)
        {
            return CapabilityError.OwnsRootRegion;
        }

        if (_regions[r].BeingRevoked)
        {
            // Re-entered through a VITAL descendant that revoked this region's owner: the outer call finishes it.
            return CapabilityError.Ok;
        }

        WRegion(r).BeingRevoked = true;
        uint generation = _regions[r].Generation;
        while (_regions[r].FirstChild != NoSlot)
        {
            int child = _regions[r].FirstChild;
            if (_regions[child].BeingRevoked)
            {
                // A descendant's revocation (further up the call stack) re-entered here through VITAL: finish this
                // region when that descendant is gone (see the end of this method).
                WRegion(r).DeferredRevoke = true;
                return CapabilityError.Ok;
            }

            CapabilityError ce = RevokeRegion(child);
            if (ce != CapabilityError.Ok)
            {
                return ce;
            }
        }

        if (!_regions[r].Live || _regions[r].Generation != generation)
        {
            return CapabilityError.Ok;
        }

        UnlinkChild(r);

        // The fields used after the node is freed (copied one by one: the node is large).
        ref readonly RegionNode node = ref _regions[r];
        bool isCarve = node.Kind == RegionCarve;
        int owner = node.Owner;
        int parentIndex = node.Parent;
        ulong start = node.Start;
        ulong end = node.End;
        MemoryOperations ops = node.Ops;
        CleanupPolicy policy = node.Policy;

        // The owner may have been revoked (and its tracker freed) by a VITAL descendant during the loop above.
        bool ownerLive = _domains[owner].Live;
        CapabilityError e;
        if (ownerLive && isCarve && _regions[parentIndex].Owner == owner)
        {
            // Carved memory flows back to the same domain: only its rights change.
            e = Reactivate(owner, start, end, RightsOf(ops), RightsOf(_regions[parentIndex].Ops));
            if (e != CapabilityError.Ok)
            {
                return e;
            }
        }
        else
        {
            e = ownerLive ? Deactivate(owner, start, end, RightsOf(ops)) : CapabilityError.Ok;
            if (e != CapabilityError.Ok)
            {
                return e;
            }
        }

        if (isCarve && !(ownerLive && _regions[parentIndex].Owner == owner))
        {
            ref readonly RegionNode parent = ref _regions[parentIndex];
            if (_domains[parent.Owner].Live)
            {
                e = Activate(parent.Owner, start, end, RightsOf(parent.Ops));
                if (e != CapabilityError.Ok)
                {
                    return e;
                }
            }
        }

        FreeRegion(r);
        if ((ops & MemoryOperations.Vital) != 0 && ownerLive)
        {
            e = RevokeDomainIndex(owner);
            if (e != CapabilityError.Ok)
            {
                return e;
            }
        }

        if ((ops & MemoryOperations.Cleanup) != 0
            && ((ops & MemoryOperations.Write) != 0 || (policy & CleanupPolicy.Flush) != 0))
        {
            e = Push(new Update(UpdateKind.Cleanup, DomainHandle.Invalid, start: start, end: end, policy: policy));
            if (e != CapabilityError.Ok)
            {
                return e;
            }
        }

        if (_regions[parentIndex].Live && _regions[parentIndex].DeferredRevoke)
        {
            ref RegionNode parent = ref WRegion(parentIndex);
            parent.DeferredRevoke = false;
            parent.BeingRevoked = false;
            return RevokeRegion(parentIndex);
        }

        return CapabilityError.Ok;
    }

    /// <summary>Moves a region to a new owner: only its effective ranges move between trackers (reference <c>send</c> of a Region).</summary>
    private CapabilityError MoveRegion(int r, int to)
    {
        int from = _regions[r].Owner;
        WRegion(r).Owner = to;
        MemoryOperations ops = RightsOf(_regions[r].Ops);
        EffectiveCursor it = new(this, r);
        while (it.MoveNext(this, out ulong s, out ulong e))
        {
            CapabilityError err = Deactivate(from, s, e, ops);
            if (err != CapabilityError.Ok)
            {
                return err;
            }

            err = Activate(to, s, e, ops);
            if (err != CapabilityError.Ok)
            {
                return err;
            }
        }

        return CapabilityError.Ok;
    }

    /// <summary>Iterates the effective ranges of a region: its range minus its carved children (reference <c>EffectiveRegionIterator</c>).</summary>
    private struct EffectiveCursor
    {
        private readonly ulong _end;
        private ulong _cursor;
        private int _child;

        public EffectiveCursor(CapabilityEngine engine, int region)
        {
            _cursor = engine._regions[region].Start;
            _end = engine._regions[region].End;
            _child = engine._regions[region].FirstChild;
        }

        public bool MoveNext(CapabilityEngine engine, out ulong start, out ulong end)
        {
            while (_cursor < _end)
            {
                while (_child != NoSlot && engine._regions[_child].Kind != RegionCarve)
                {
                    _child = engine._regions[_child].NextSibling;
                }

                if (_child == NoSlot)
                {
                    start = _cursor;
                    end = _end;
                    _cursor = _end;
                    return true;
                }

                ref readonly RegionNode c = ref engine._regions[_child];
                _child = c.NextSibling;
                if (c.Start <= _cursor)
                {
                    _cursor = Math.Max(_cursor, c.End);
                    continue;
                }

                start = _cursor;
                end = c.Start;
                _cursor = c.End;
                return true;
            }

            start = 0;
            end = 0;
            return false;
        }
    }

    private CapabilityError GetEffectiveRegionsCore(DomainHandle domain, LocalCapability region, Span<AccessRights> destination, out int written)
    {
        written = 0;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        CapabilityError e = GetRegionCap(d, region, out _, out int r);
        if (e != CapabilityError.Ok)
        {
            return e == CapabilityError.WrongCapabilityType ? CapabilityError.InvalidCapa : e;
        }

        int count = 0;
        EffectiveCursor it = new(this, r);
        while (it.MoveNext(this, out _, out _))
        {
            count++;
        }

        if (count > destination.Length)
        {
            return CapabilityError.OutOfMemory;
        }

        it = new EffectiveCursor(this, r);
        MemoryOperations ops = _regions[r].Ops;
        while (it.MoveNext(this, out ulong s, out ulong en))
        {
            destination[written++] = new AccessRights(s, en, ops);
        }

        return CapabilityError.Ok;
    }

    private CapabilityError GetRegionInfoCore(DomainHandle domain, LocalCapability region, out AccessRights access, out CleanupPolicy cleanup,
        out RegionHash hash, out bool hasHash)
    {
        access = default;
        cleanup = CleanupPolicy.None;
        hash = default;
        hasHash = false;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        CapabilityError e = GetCap(d, region, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        CapabilityKind kind = _capSlots[slot].Kind;
        if (kind != CapabilityKind.Region && kind != CapabilityKind.RegionRevoke)
        {
            return CapabilityError.WrongCapabilityType;
        }

        if (!IsCapValid(slot))
        {
            return CapabilityError.InvalidCapa;
        }

        ref readonly RegionNode n = ref _regions[_capSlots[slot].Target];
        access = new AccessRights(n.Start, n.End, n.Ops);
        cleanup = n.Policy;
        hash = n.HasHash ? _hashes[_capSlots[slot].Target] : default;
        hasHash = n.HasHash;
        return CapabilityError.Ok;
    }
}
