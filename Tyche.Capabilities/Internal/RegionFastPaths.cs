// SPDX-License-Identifier: Apache-2.0
using System.Diagnostics;

namespace Tyche.Capabilities;

/// <summary>
/// Validate-then-mutate fast paths for alias, carve, send and revoke of a leaf region outside explicit transactions.
/// Each <c>…CannotFail</c> predicate reads the engine only and returns true only when the operation's core method is
/// certain to succeed: every check it makes passes, every pool and the update queue have room for the most the
/// operation can take, and the tracker ranges it removes or swaps are held (by invariant I1, see
/// <see cref="HeldByInvariant"/>); last, the receiving capability table gets a free slot, by a garbage collection if it is full
/// (<see cref="HasOrCollectsCapSlot"/>). The core method then runs with the journal off
/// (outside a transaction every <c>W…</c> accessor skips it): it is the same code as the journaled path, so the result,
/// the state and the updates are the same, and because nothing can fail after its first write no undo is needed.
/// When a predicate returns false (an error, a cascade, tight capacity, a full table with nothing to collect), the caller takes
/// the journaled path, which reports the error and changes nothing, exactly as before.
/// </summary>
public sealed partial class CapabilityEngine
{
    /// <summary>Tracker nodes one <see cref="TrackerRemove"/> or <see cref="TrackerSwap"/> can allocate: two splits.</summary>
    private const int SplitNodes = 2;

    /// <summary>How many operations took one of these fast paths (a test hook; never reset).</summary>
    private int _fastPathRuns;

    private int FreeTrackerNodes => _tracker.Length - _h.TrackerCount;

    private bool QueueHasRoom(int updates) => _h.QueueCount <= _updates.Length - updates;

    /// <summary>Whether the domain's table has a free slot without a garbage collection.</summary>
    private bool HasFreeCapSlot(int domain)
    {
        ref readonly DomainSlot d = ref _domains[domain];
        return d.CapFree != NoSlot || d.CapFresh < _caps;
    }

    /// <summary>
    /// The last step of a fast path, once every other check passed: whether the domain's table has a free slot, after a
    /// garbage collection (run unjournaled) when it is full. This is what the journaled path does at the same point
    /// (<see cref="EnsureCapacity"/>), and since nothing after it can fail, its effect stays. When the collection frees
    /// nothing it has changed nothing, and the caller falls back to the journaled path (which reports OutOfMemory).
    /// </summary>
    private bool HasOrCollectsCapSlot(int domain)
    {
        if (HasFreeCapSlot(domain))
        {
            return true;
        }

        CollectGarbage(domain);
        return HasFreeCapSlot(domain);
    }

    /// <summary>
    /// An upper bound on the nodes a <see cref="TrackerAdd"/> to <paramref name="domain"/> can allocate, whatever the range:
    /// one per gap (at most one more than the nodes it overlaps) and two splits.
    /// </summary>
    private int TrackerAddBound(int domain) => _domains[domain].TrackerNodes + 1 + SplitNodes;

    /// <summary>
    /// Whether the domain's tracker holds <c>[start, end)</c> with at least the rights <paramref name="ops"/>, for a range
    /// that is part of the effective range of a region the domain owns with those rights. Invariant I1 (every tracker
    /// counts exactly the effective ranges of the regions its domain owns; checked by <see cref="CheckInvariants"/>)
    /// makes that always true, so release builds do not walk the tracker again; debug builds (e.g. `dotnet test` without
    /// `-c Release`) verify it and refuse the fast path, failing loudly, if it ever were false. CI runs Release, where
    /// RegionFastPathTests compare every fast-path result, state and update stream with the journaled path instead.
    /// </summary>
    private bool HeldByInvariant(int domain, ulong start, ulong end, MemoryOperations ops)
    {
#if DEBUG
        if (!TrackerHolds(domain, start, end, ops))
        {
            Debug.Fail("invariant I1 broken: a region's effective range is not held by its owner's tracker");
            return false;
        }
#endif
        return true;
    }

#if DEBUG
    /// <summary>Whether <c>[start, end)</c> of the domain's tracker is fully covered with at least the rights <paramref name="ops"/> (then neither <see cref="TrackerRemove"/> nor <see cref="TrackerSwap"/> from <paramref name="ops"/> can fail but for its two splits).</summary>
    private bool TrackerHolds(int domain, ulong start, ulong end, MemoryOperations ops)
    {
        TrackerSeek(domain, start, out _, out int cur);
        return TrackerCovers(cur, start, end,
            (ops & MemoryOperations.Read) != 0 ? 1 : 0, (ops & MemoryOperations.Write) != 0 ? 1 : 0,
            (ops & MemoryOperations.Execute) != 0 ? 1 : 0, (ops & MemoryOperations.Super) != 0 ? 1 : 0);
    }
#endif

    /// <summary>Outside any transaction: alias or carve unjournaled when <see cref="DeriveCannotFail"/> approves; false (nothing changed) otherwise.</summary>
    private bool TryFastDerive(DomainHandle domain, LocalCapability region, in AccessRights access, CleanupPolicy cleanup, bool carve,
        out LocalCapability result)
    {
        if (!DeriveCannotFail(domain, region, access, carve, out int p, out int owner) || !HasOrCollectsCapSlot(owner))
        {
            result = default;
            return false;
        }

        CapabilityError e = DeriveApply(p, owner, access, cleanup, carve, out result);
        AssertFastPathSucceeded(e);
        _fastPathRuns++;
        return true;
    }

    /// <summary>Whether <see cref="DeriveCore"/> is certain to succeed (see the type remarks), with the parent region and its owner.</summary>
    private bool DeriveCannotFail(DomainHandle domain, LocalCapability region, in AccessRights access, bool carve, out int p, out int owner)
    {
        p = NoSlot;
        owner = NoSlot;
        if (!TryDomainIndex(domain, out int d))
        {
            return false;
        }

        ulong needed = (ulong)(carve ? DomainPermissions.Carve : DomainPermissions.Alias);
        if ((_domains[d].Permissions & needed) != needed || GetRegionCap(d, region, out _, out p) != CapabilityError.Ok)
        {
            return false;
        }

        owner = _regions[p].Owner;
        if (!HasFreeRegion || !CanDerive(p, access, carve) || !QueueHasRoom(1))
        {
            return false;
        }

        if (!carve)
        {
            // Activate: one TrackerAdd, at most one PermissionUpdate.
            return FreeTrackerNodes >= TrackerAddBound(owner);
        }

        // Reactivate from the parent's rights to the carve's: fused swap (two splits) when the range holds them.
        MemoryOperations parentOps = _regions[p].Ops;
        return access.Operations == parentOps
            || (FreeTrackerNodes >= SplitNodes && HeldByInvariant(owner, access.Start, access.End, RightsOf(parentOps)));
    }

    /// <summary>Outside any transaction: sends unjournaled when <see cref="SendCannotFail"/> approves; false (nothing changed) otherwise.</summary>
    private bool TryFastSend(DomainHandle domain, LocalCapability capability, LocalCapability to, out LocalCapability received)
    {
        if (!SendCannotFail(domain, capability, to, out int t) || !HasOrCollectsCapSlot(t))
        {
            received = default;
            return false;
        }

        CapabilityError e = SendCore(domain, capability, to, false, default, out received);
        AssertFastPathSucceeded(e);
        _fastPathRuns++;
        return true;
    }

    /// <summary>Whether <see cref="SendCore"/> is certain to succeed; only capabilities that move no device or management link, and regions without carved children (one effective range).</summary>
    private bool SendCannotFail(DomainHandle domain, LocalCapability capability, LocalCapability to, out int t)
    {
        t = NoSlot;
        if (!TryDomainIndex(domain, out int d) || (_domains[d].Permissions & (ulong)DomainPermissions.Send) == 0
            || GetDomainCap(d, to, true, out _, out t) != CapabilityError.Ok || t == d || GetCap(d, capability, out int slot) != CapabilityError.Ok)
        {
            return false;
        }

        ref readonly CapSlot c = ref _capSlots[slot];
        switch (c.Kind)
        {
            case CapabilityKind.Region:
                if (!IsCapValid(slot))
                {
                    return true;
                }

                // MoveRegion: Deactivate the owner (two splits, one update), Activate the receiver (one update).
                ref readonly RegionNode r = ref _regions[c.Target];
                int from = r.Owner;
                return r.CarveCount == 0 && _domains[from].Live && QueueHasRoom(2)
                    && FreeTrackerNodes >= SplitNodes + TrackerAddBound(t) + (from == t ? SplitNodes : 0)
                    && HeldByInvariant(from, r.Start, r.End, RightsOf(r.Ops));
            case CapabilityKind.Management:
            case CapabilityKind.Device:
                return !IsCapValid(slot);
            default:
                return true;
        }
    }

    /// <summary>
    /// Outside any transaction: revokes a leaf region unjournaled when <see cref="RevokeLeafCannotFail"/> approves, doing
    /// what <see cref="RevokeCore"/> does for it (<see cref="RevokeCapability"/>: the region, then the tombstone; the caller
    /// stays live since the region is not VITAL); false (nothing changed) otherwise.
    /// </summary>
    private bool TryFastRevoke(DomainHandle domain, LocalCapability capability)
    {
        if (!RevokeLeafCannotFail(domain, capability, out int d, out int slot))
        {
            return false;
        }

        CapabilityError e = RevokeRegion(_capSlots[slot].Target);
        AssertFastPathSucceeded(e);
        if (_domains[d].Live && _capSlots[slot].Allocated)
        {
            TombstoneCap(slot);
        }

        _fastPathRuns++;
        return true;
    }

    /// <summary>
    /// Whether <see cref="RevokeCore"/> is certain to succeed without a cascade: a valid Region or RegionRevoke capability
    /// of a non-root, non-VITAL region with no children, whose owner is live.
    /// </summary>
    private bool RevokeLeafCannotFail(DomainHandle domain, LocalCapability capability, out int d, out int slot)
    {
        slot = NoSlot;
        if (!TryDomainIndex(domain, out d) || GetCap(d, capability, out slot) != CapabilityError.Ok)
        {
            return false;
        }

        ref readonly CapSlot c = ref _capSlots[slot];
        if ((c.Kind != CapabilityKind.Region && c.Kind != CapabilityKind.RegionRevoke) || !IsCapValid(slot))
        {
            return false;
        }

        ref readonly RegionNode n = ref _regions[c.Target];
        if (n.Kind == RegionRoot || n.BeingRevoked || n.FirstChild != NoSlot || (n.Ops & MemoryOperations.Vital) != 0
            || !_domains[n.Owner].Live || _domains[n.Owner].BeingRevoked || _regions[n.Parent].DeferredRevoke)
        {
            return false;
        }

        int updates = 1;
        if ((n.Ops & MemoryOperations.Cleanup) != 0
            && ((n.Ops & MemoryOperations.Write) != 0 || (n.Policy & CleanupPolicy.Flush) != 0))
        {
            updates++;
        }

        ref readonly RegionNode parent = ref _regions[n.Parent];
        int nodes = SplitNodes;
        MemoryOperations held = RightsOf(n.Ops);
        if (n.Kind == RegionCarve && parent.Owner != n.Owner && _domains[parent.Owner].Live)
        {
            // Deactivate the owner, then Activate the parent's owner.
            updates++;
            nodes += TrackerAddBound(parent.Owner);
        }

        return QueueHasRoom(updates) && FreeTrackerNodes >= nodes && HeldByInvariant(n.Owner, n.Start, n.End, held);
    }

    /// <summary>Checks, in debug builds, that a core method run unjournaled after its <c>…CannotFail</c> predicate approved it succeeded.</summary>
    private static void AssertFastPathSucceeded(CapabilityError error)
    {
        if (error != CapabilityError.Ok)
        {
            Debug.Fail("an approved fast path failed: " + error.ToString());
        }
    }
}
