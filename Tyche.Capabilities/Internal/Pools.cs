// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities;

/// <summary>
/// Pool allocation, capability tables and the update queue.
/// Every pool hands out never-used slots in ascending order (a "fresh" counter) and reuses freed slots last-in-first-out
/// (an intrusive free stack): exactly the order of the reference's free list 0→1→…→N−1 with LIFO pushes.
/// </summary>
public sealed partial class CapabilityEngine
{
    // ------------------------------------------------------------------ domains

    private bool TryDomainIndex(DomainHandle h, out int index)
    {
        index = h.Index;
        return (uint)index < (uint)_domains.Length && _domains[index].Live && _domains[index].Generation == h.Generation;
    }

    private DomainHandle HandleOf(int index) => new(index, _domains[index].Generation);

    private bool IsLiveIndex(int index, uint generation) =>
        (uint)index < (uint)_domains.Length && _domains[index].Live && _domains[index].Generation == generation;

    private int AllocDomain()
    {
        int i;
        if (_h.DomainFree != NoSlot)
        {
            i = _h.DomainFree;
            _h.DomainFree = _domains[i].NextFree;
        }
        else if (_h.DomainFresh < _domains.Length)
        {
            i = _h.DomainFresh++;
        }
        else
        {
            return NoSlot;
        }

        _h.DomainCount++;
        ref DomainSlot d = ref WDomain(i);
        uint gen = d.Generation;
        d = default;
        d.Generation = gen;
        d.Live = true;
        d.Manager = NoSlot;
        d.CapFree = NoSlot;
        d.TrackerHead = NoSlot;
        d.TrackerRoot = NoSlot;
        return i;
    }

    private void FreeDomain(int i)
    {
        ref DomainSlot d = ref WDomain(i);
        d.Live = false;
        d.BeingRevoked = false;
        d.Generation++;
        d.NextFree = _h.DomainFree;
        _h.DomainFree = i;
        _h.DomainCount--;
    }

    // ------------------------------------------------------------------ capability tables

    private int CapSlotIndex(int domain, int local) => (domain * _caps) + local;

    /// <summary>Looks up an allocated slot of a domain's table (reference <c>Domain::get</c>).</summary>
    private CapabilityError GetCap(int domain, LocalCapability capability, out int slot)
    {
        slot = NoSlot;
        int local = capability.Index;
        if ((uint)local >= (uint)_domains[domain].CapFresh)
        {
            return CapabilityError.CapabilityDoesNotExist;
        }

        int s = CapSlotIndex(domain, local);
        if (!_capSlots[s].Allocated)
        {
            return CapabilityError.CapabilityDoesNotExist;
        }

        slot = s;
        return CapabilityError.Ok;
    }

    /// <summary>Whether a capability slot designates a live object (a tombstone or a dead target is invalid).</summary>
    private bool IsCapValid(int slot)
    {
        ref CapSlot c = ref _capSlots[slot];
        if (!c.Allocated)
        {
            return false;
        }

        switch (c.Kind)
        {
            case CapabilityKind.Region:
            case CapabilityKind.RegionRevoke:
                return _regions[c.Target].Live && _regions[c.Target].Generation == c.TargetGeneration;
            case CapabilityKind.Management:
            case CapabilityKind.Channel:
            case CapabilityKind.Switch:
                return IsLiveIndex(c.Target, c.TargetGeneration);
            case CapabilityKind.Device:
                int owner = slot / _caps;
                return _devices[c.Target].CapDomain == owner && _devices[c.Target].CapIndex == slot - (owner * _caps);
            case CapabilityKind.DeviceRevoke:
                return true;
            default:
                return false;
        }
    }

    /// <summary>Whether the domain's table has a free slot, reclaiming invalid slots if it is full (reference <c>has_capacity_for</c>).</summary>
    private bool EnsureCapacity(int domain)
    {
        ref DomainSlot d = ref _domains[domain];
        if (d.CapFree != NoSlot || d.CapFresh < _caps)
        {
            return true;
        }

        CollectGarbage(domain);
        return _domains[domain].CapFree != NoSlot;
    }

    private void CollectGarbage(int domain)
    {
        int fresh = _domains[domain].CapFresh;
        for (int local = 0; local < fresh; local++)
        {
            int s = CapSlotIndex(domain, local);
            ref readonly CapSlot c = ref _capSlots[s];
            if (c.Allocated && (c.Kind == CapabilityKind.None || !IsCapValid(s)))
            {
                FreeCap(domain, local);
            }
        }
    }

    /// <summary>Inserts a capability (reference <c>insert_capa</c>): the next free slot, after a garbage collection if needed.</summary>
    private CapabilityError InsertCap(int domain, CapabilityKind kind, int target, uint targetGeneration, int core, ulong serial, out int local)
    {
        local = NoSlot;
        if (!EnsureCapacity(domain))
        {
            return CapabilityError.OutOfMemory;
        }

        ref DomainSlot d = ref WDomain(domain);
        if (d.CapFree != NoSlot)
        {
            local = d.CapFree;
            d.CapFree = _capSlots[CapSlotIndex(domain, local)].NextFree;
        }
        else
        {
            local = d.CapFresh++;
        }

        ref CapSlot c = ref WCap(CapSlotIndex(domain, local));
        c.Allocated = true;
        c.Kind = kind;
        c.NextFree = NoSlot;
        c.Target = target;
        c.TargetGeneration = targetGeneration;
        c.Core = core;
        c.Serial = serial;
        return CapabilityError.Ok;
    }

    private void FreeCap(int domain, int local)
    {
        ref DomainSlot d = ref WDomain(domain);
        ref CapSlot c = ref WCap(CapSlotIndex(domain, local));
        c = default;
        c.NextFree = d.CapFree;
        d.CapFree = local;
    }

    private void TombstoneCap(int slot)
    {
        ref CapSlot c = ref WCap(slot);
        c.Kind = CapabilityKind.None;
        c.Target = 0;
        c.TargetGeneration = 0;
        c.Core = 0;
        c.Serial = 0;
    }

    // ------------------------------------------------------------------ update queue

    private CapabilityError Push(in Update update)
    {
        if (_h.QueueCount == _updates.Length)
        {
            return CapabilityError.UpdateQueueFull;
        }

        int slot = _h.QueueHead + _h.QueueCount;
        if (slot >= _updates.Length)
        {
            slot -= _updates.Length;
        }

        WUpdate(slot) = update;
        _h.QueueCount++;
        return CapabilityError.Ok;
    }

    /// <summary>Queues a PermissionUpdate for a domain unless one is pending (O(1): a per-domain pending count).</summary>
    private CapabilityError PushPermissionUpdate(int domain)
    {
        if (_domains[domain].PendingPermissionUpdates > 0)
        {
            return CapabilityError.Ok;
        }

        CapabilityError e = Push(new Update(UpdateKind.PermissionUpdate, HandleOf(domain), coreMap: _domains[domain].RunningCores));
        if (e == CapabilityError.Ok)
        {
            WDomain(domain).PendingPermissionUpdates++;
        }

        return e;
    }

    private bool PopUpdateCore(out Update update)
    {
        if (_h.QueueCount == 0)
        {
            update = default;
            return false;
        }

        Update.CopyWords(ref _updates[_h.QueueHead], out update);
        _h.QueueHead++;
        if (_h.QueueHead == _updates.Length)
        {
            _h.QueueHead = 0;
        }

        _h.QueueCount--;
        if (update.Kind == UpdateKind.PermissionUpdate)
        {
            DomainHandle d = update.Domain;
            if (TryDomainIndex(d, out int i) && _domains[i].PendingPermissionUpdates > 0)
            {
                WDomain(i).PendingPermissionUpdates--;
            }
        }

        return true;
    }

    // ------------------------------------------------------------------ region and tracker nodes

    private int AllocRegion()
    {
        int i;
        if (_h.RegionFree != NoSlot)
        {
            i = _h.RegionFree;
            _h.RegionFree = _regions[i].NextFree;
        }
        else if (_h.RegionFresh < _regions.Length)
        {
            i = _h.RegionFresh++;
        }
        else
        {
            return NoSlot;
        }

        _h.RegionCount++;
        ref RegionNode r = ref WRegion(i);
        uint gen = r.Generation;
        r = default;
        r.Generation = gen;
        r.Live = true;
        r.Parent = NoSlot;
        r.FirstChild = NoSlot;
        r.LastChild = NoSlot;
        r.NextSibling = NoSlot;
        r.PrevSibling = NoSlot;
        r.NextFree = NoSlot;
        r.ChildRoot = NoSlot;
        r.CLeft = NoSlot;
        r.CRight = NoSlot;
        r.CUp = NoSlot;
        return i;
    }

    private bool HasFreeRegion => _h.RegionFree != NoSlot || _h.RegionFresh < _regions.Length;

    private void FreeRegion(int i)
    {
        ref RegionNode r = ref WRegion(i);
        uint gen = r.Generation + 1;
        r = default;
        r.Generation = gen;
        r.NextFree = _h.RegionFree;
        _h.RegionFree = i;
        _h.RegionCount--;
    }

    private int AllocTracker()
    {
        int i;
        if (_h.TrackerFree != NoSlot)
        {
            i = _h.TrackerFree;
            _h.TrackerFree = _tracker[i].Next;
        }
        else if (_h.TrackerFresh < _tracker.Length)
        {
            i = _h.TrackerFresh++;
        }
        else
        {
            return NoSlot;
        }

        _h.TrackerCount++;
        return i;
    }

    private void FreeTracker(int i)
    {
        ref TrackerNode t = ref WTracker(i);
        t = default;
        t.Next = _h.TrackerFree;
        _h.TrackerFree = i;
        _h.TrackerCount--;
    }
}
