// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>
/// Devices (an addition): each PCI function has exactly one Device capability, held by its owner. Sending moves it;
/// a DeviceRevoke capability (serial-numbered) takes it back to its holder and invalidates every revoke capability
/// created later for the same device (they belong to domains further down the delegation chain). Cores and switching.
/// </summary>
public sealed partial class CapabilityEngine
{
    private CapabilityError CreateRootDeviceCore(DomainHandle domain, DeviceId device, out LocalCapability capability)
    {
        capability = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (FindDevice(device) != NoSlot)
        {
            return CapabilityError.DeviceAlreadyExists;
        }

        if (_h.DeviceCount == _devices.Length)
        {
            return CapabilityError.OutOfMemory;
        }

        int dev = _h.DeviceCount++;
        CapabilityError e = InsertCap(d, CapabilityKind.Device, dev, 0, 0, 0, out int local);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        ref DeviceSlot s = ref WDevice(dev);
        s.Id = device;
        s.Owner = d;
        s.RootOwner = d;
        s.RootOwnerGeneration = _domains[d].Generation;
        s.PreviousOwner = NoSlot;
        s.CapDomain = d;
        s.CapIndex = local;
        capability = local;
        return Push(new Update(UpdateKind.DeviceUpdate, domain, device: device));
    }

    private int FindDevice(DeviceId device)
    {
        for (int i = 0; i < _h.DeviceCount; i++)
        {
            if (_devices[i].Id == device)
            {
                return i;
            }
        }

        return NoSlot;
    }

    private CapabilityError GetDeviceOwnerCore(DeviceId device, out DomainHandle owner)
    {
        int i = FindDevice(device);
        if (i == NoSlot)
        {
            owner = DomainHandle.Invalid;
            return CapabilityError.InvalidValue;
        }

        owner = HandleOf(_devices[i].Owner);
        return CapabilityError.Ok;
    }

    private int GetDevicesCore(DomainHandle domain, Span<DeviceId> destination)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return 0;
        }

        int n = 0;
        for (int i = 0; i < _h.DeviceCount && n < destination.Length; i++)
        {
            if (_devices[i].Owner == d)
            {
                destination[n++] = _devices[i].Id;
            }
        }

        return n;
    }

    private CapabilityError MoveDevice(int dev, int from, int to)
    {
        ref DeviceSlot s = ref WDevice(dev);
        s.Owner = to;
        s.PreviousOwner = from;
        s.PreviousOwnerGeneration = _domains[from].Generation;
        return Push(new Update(UpdateKind.DeviceUpdate, HandleOf(to), device: s.Id));
    }

    /// <summary>Uses a DeviceRevoke capability: the device returns to its holder, whose revoke slot becomes the Device capability.</summary>
    private CapabilityError RevokeDeviceRevoke(int holder, int slot)
    {
        int dev = _capSlots[slot].Target;
        ulong serial = _capSlots[slot].Serial;
        InvalidateDeviceRevokes(dev, serial);
        if (_devices[dev].Owner == holder)
        {
            TombstoneCap(slot);
            return CapabilityError.Ok;
        }

        int oldDomain = _devices[dev].CapDomain;
        int oldSlot = CapSlotIndex(oldDomain, _devices[dev].CapIndex);
        if (_capSlots[oldSlot].Allocated && _capSlots[oldSlot].Kind == CapabilityKind.Device)
        {
            TombstoneCap(oldSlot);
        }

        ref CapSlot c = ref WCap(slot);
        c.Kind = CapabilityKind.Device;
        c.Serial = 0;
        ref DeviceSlot s = ref WDevice(dev);
        s.CapDomain = holder;
        s.CapIndex = slot - (holder * _caps);
        return MoveDevice(dev, _devices[dev].Owner, holder);
    }

    private void InvalidateDeviceRevokes(int dev, ulong aboveSerial)
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
                ref readonly CapSlot c = ref _capSlots[s];
                if (c.Allocated && c.Kind == CapabilityKind.DeviceRevoke && c.Target == dev && c.Serial > aboveSerial)
                {
                    TombstoneCap(s);
                }
            }
        }
    }

    /// <summary>
    /// Gives a device back when its holder revokes it or is revoked: to the holder of the newest DeviceRevoke capability for
    /// it (outside domains being revoked), else to the previous holder, else to its boot owner; else <paramref name="nowhere"/>.
    /// </summary>
    private CapabilityError ReturnDevice(int dev, CapabilityError nowhere)
    {
        int bestSlot = NoSlot;
        int bestDomain = NoSlot;
        ulong bestSerial = 0;
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live || _domains[d].BeingRevoked || d == _devices[dev].Owner)
            {
                continue;
            }

            int fresh = _domains[d].CapFresh;
            for (int local = 0; local < fresh; local++)
            {
                int s = CapSlotIndex(d, local);
                ref readonly CapSlot c = ref _capSlots[s];
                if (c.Allocated && c.Kind == CapabilityKind.DeviceRevoke && c.Target == dev && c.Serial > bestSerial)
                {
                    bestSerial = c.Serial;
                    bestSlot = s;
                    bestDomain = d;
                }
            }
        }

        if (bestSlot != NoSlot)
        {
            return RevokeDeviceRevoke(bestDomain, bestSlot);
        }

        ref readonly DeviceSlot dv = ref _devices[dev];
        int to = NoSlot;
        if (dv.PreviousOwner != NoSlot && dv.PreviousOwner != dv.Owner && IsLiveIndex(dv.PreviousOwner, dv.PreviousOwnerGeneration)
            && !_domains[dv.PreviousOwner].BeingRevoked)
        {
            to = dv.PreviousOwner;
        }
        else if (dv.RootOwner != dv.Owner && IsLiveIndex(dv.RootOwner, dv.RootOwnerGeneration) && !_domains[dv.RootOwner].BeingRevoked)
        {
            to = dv.RootOwner;
        }

        if (to == NoSlot)
        {
            return nowhere;
        }

        int oldSlot = CapSlotIndex(dv.CapDomain, dv.CapIndex);
        CapabilityError e = InsertCap(to, CapabilityKind.Device, dev, 0, 0, 0, out int newLocal);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        TombstoneCap(oldSlot);
        ref DeviceSlot w = ref WDevice(dev);
        w.CapDomain = to;
        w.CapIndex = newLocal;
        return MoveDevice(dev, w.Owner, to);
    }

    // ------------------------------------------------------------------ cores and switching

    private CapabilityError CreateSwitchCore(DomainHandle domain, int core, out LocalCapability capability)
    {
        capability = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (!CoreInRange(core))
        {
            return CapabilityError.InvalidCore;
        }

        CapabilityError e = InsertCap(d, CapabilityKind.Switch, d, _domains[d].Generation, core, 0, out int local);
        capability = local;
        return e;
    }

    private CapabilityError SwitchCore(DomainHandle domain, int core, LocalCapability capability)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (!CoreInRange(core) || !_cores[core].Initialized)
        {
            return CapabilityError.InvalidCore;
        }

        CapabilityError e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        return SwitchWith(d, core, slot);
    }

    private CapabilityError SwitchWith(int d, int core, int slot)
    {
        if (_capSlots[slot].Kind != CapabilityKind.Switch)
        {
            return CapabilityError.WrongCapabilityType;
        }

        if (!IsCapValid(slot))
        {
            return CapabilityError.InvalidCapa;
        }

        int n = _capSlots[slot].Target;
        ulong bit = 1UL << core;
        // The reference does not check that the caller runs on the core (it only logs); this engine refuses, so a
        // core and the running-core bitmaps can never disagree.
        if ((_domains[n].CoreMap & bit) == 0 || (_domains[d].RunningCores & bit) == 0)
        {
            return CapabilityError.InvalidCore;
        }

        CapabilityError e = InsertCap(n, CapabilityKind.Switch, d, _domains[d].Generation, core, 0, out int returnCapa);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        FreeCap(d, slot - (d * _caps));
        WDomain(n).RunningCores |= bit;
        WDomain(d).RunningCores &= ~bit;
        if (n == d)
        {
            WDomain(n).RunningCores |= bit;
        }

        ref CoreSlot c = ref WCore(core);
        c.Domain = n;
        c.Generation = _domains[n].Generation;
        return Push(new Update(UpdateKind.Switch, HandleOf(n), core: core, returnCapability: returnCapa));
    }

    // ------------------------------------------------------------------ validate-then-mutate fast paths

    /// <summary>
    /// Whether <see cref="SwitchWith"/> is certain to succeed without a garbage collection: every check it makes that can
    /// fail, in the same order, without changing anything. When true, it can run with no journal (nothing can fail after
    /// its first write); when false, the journaled path runs and reports the error (or collects garbage) as before.
    /// </summary>
    private bool SwitchCannotFail(int d, int core, int slot)
    {
        if (_capSlots[slot].Kind != CapabilityKind.Switch || !IsCapValid(slot))
        {
            return false;
        }

        int n = _capSlots[slot].Target;
        ulong bit = 1UL << core;
        if ((_domains[n].CoreMap & bit) == 0 || (_domains[d].RunningCores & bit) == 0)
        {
            return false;
        }

        // Capacity in the target's table without a garbage collection (a full table takes the journaled path, whose GC
        // is undone if a later check fails), and room in the update queue.
        ref readonly DomainSlot target = ref _domains[n];
        return (target.CapFree != NoSlot || target.CapFresh < _caps) && _h.QueueCount < _updates.Length;
    }

    /// <summary>
    /// Outside any transaction, performs a switch that cannot fail directly, without journaling. Returns false, having
    /// changed nothing, when the switch could fail or needs a garbage collection: the caller then takes the journaled path.
    /// </summary>
    /// <remarks>
    /// The checks are those of <see cref="SwitchCore"/> and <see cref="SwitchCannotFail"/> on ref locals, and the writes
    /// are exactly those of <see cref="SwitchWith"/> in the same order (<see cref="InsertCap"/> of the return capability in
    /// the target's table, <see cref="FreeCap"/> of the consumed one, the running-core bitmaps, the core, the Switch
    /// update), written straight into the pools: no journal is open, so no accessor has anything to save.
    /// </remarks>
    private bool TryFastSwitch(DomainHandle domain, int core, LocalCapability capability)
    {
        DomainSlot[] domains = _domains;
        int d = domain.Index;
        if ((uint)d >= (uint)domains.Length || (uint)core >= (uint)_cores.Length)
        {
            return false;
        }

        ref DomainSlot src = ref domains[d];
        ref CoreSlot cs = ref _cores[core];
        int local = capability.Index;
        if (!src.Live || src.Generation != domain.Generation || !cs.Initialized || (uint)local >= (uint)src.CapFresh)
        {
            return false;
        }

        CapSlot[] caps = _capSlots;
        ref CapSlot c = ref caps[(d * _caps) + local];
        int n = c.Target;
        if (!c.Allocated || c.Kind != CapabilityKind.Switch || (uint)n >= (uint)domains.Length)
        {
            return false;
        }

        ref DomainSlot dst = ref domains[n];
        ulong bit = 1UL << core;
        if (!dst.Live || dst.Generation != c.TargetGeneration || (dst.CoreMap & bit) == 0 || (src.RunningCores & bit) == 0
            || (dst.CapFree == NoSlot && dst.CapFresh >= _caps) || _h.QueueCount == _updates.Length)
        {
            return false;
        }

        // InsertCap(n, Switch, d, …): the target's free stack first, else its fresh counter.
        int back;
        if (dst.CapFree != NoSlot)
        {
            back = dst.CapFree;
            dst.CapFree = caps[(n * _caps) + back].NextFree;
        }
        else
        {
            back = dst.CapFresh++;
        }

        ref CapSlot r = ref caps[(n * _caps) + back];
        r.Allocated = true;
        r.Kind = CapabilityKind.Switch;
        r.NextFree = NoSlot;
        r.Target = d;
        r.TargetGeneration = src.Generation;
        r.Core = core;
        r.Serial = 0;

        // FreeCap(d, local).
        c = default;
        c.NextFree = src.CapFree;
        src.CapFree = local;

        dst.RunningCores |= bit;
        src.RunningCores &= ~bit;
        if (n == d)
        {
            dst.RunningCores |= bit;
        }

        cs.Domain = n;
        cs.Generation = dst.Generation;

        // Push(Switch update).
        int q = _h.QueueHead + _h.QueueCount;
        if (q >= _updates.Length)
        {
            q -= _updates.Length;
        }

        Update.WriteSwitch(ref _updates[q], new DomainHandle(n, dst.Generation), core, back);
        _h.QueueCount++;
        return true;
    }

    /// <summary>The <see cref="TryFastSwitch"/> counterpart of <see cref="HandleViolationCore"/>.</summary>
    private bool TryFastHandleViolation(DomainHandle domain, int core)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return false;
        }

        int m = _domains[d].Manager;
        if (m == NoSlot || !IsLiveIndex(m, _domains[d].ManagerGeneration) || !CoreInRange(core) || !_cores[core].Initialized)
        {
            return false;
        }

        int fresh = _domains[d].CapFresh;
        for (int local = 0; local < fresh; local++)
        {
            int s = CapSlotIndex(d, local);
            ref readonly CapSlot c = ref _capSlots[s];
            if (c.Allocated && c.Kind == CapabilityKind.Switch && c.Target == m && c.Core == core && IsCapValid(s))
            {
                return SwitchCannotFail(d, core, s) && SwitchWith(d, core, s) == CapabilityError.Ok;
            }
        }

        return false;
    }

    private CapabilityError HandleTrapCore(DomainHandle domain, int core, ulong trap, ulong info)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (!CoreInRange(core))
        {
            return CapabilityError.InvalidCore;
        }

        if (_domains[d].Sealed && (_domains[d].Traps & trap) != 0)
        {
            return CapabilityError.ValidTrapCausedExit;
        }

        int cur = d;
        for (int steps = 0; steps <= _domains.Length; steps++)
        {
            if ((_domains[cur].Traps & trap) != 0)
            {
                return Push(new Update(UpdateKind.Trap, HandleOf(cur), core: core, trap: trap, info: info));
            }

            int next = _domains[cur].Manager;
            if (next == NoSlot || !IsLiveIndex(next, _domains[cur].ManagerGeneration))
            {
                break;
            }

            cur = next;
        }

        return CapabilityError.CouldNotHandleTrap;
    }

    private CapabilityError HandleViolationCore(DomainHandle domain, int core)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        int m = _domains[d].Manager;
        if (m == NoSlot || !IsLiveIndex(m, _domains[d].ManagerGeneration))
        {
            return CapabilityError.CouldNotHandleTrap;
        }

        if (!CoreInRange(core) || !_cores[core].Initialized)
        {
            return CapabilityError.InvalidCore;
        }

        int fresh = _domains[d].CapFresh;
        for (int local = 0; local < fresh; local++)
        {
            int s = CapSlotIndex(d, local);
            ref readonly CapSlot c = ref _capSlots[s];
            if (c.Allocated && c.Kind == CapabilityKind.Switch && c.Target == m && c.Core == core && IsCapValid(s))
            {
                return SwitchWith(d, core, s);
            }
        }

        return CapabilityError.InvalidCore;
    }

    private CapabilityError ConditionalPermissionUpdateCore(DomainHandle domain)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        return PushPermissionUpdate(d);
    }

    private CapabilityError GetRunningDomainCore(int core, out DomainHandle domain)
    {
        domain = DomainHandle.Invalid;
        if (!CoreInRange(core) || !_cores[core].Initialized)
        {
            return CapabilityError.InvalidCore;
        }

        domain = new DomainHandle(_cores[core].Domain, _cores[core].Generation);
        return CapabilityError.Ok;
    }

    private int GetDomainsAllowedOnCoreCore(int core, Span<DomainHandle> destination)
    {
        if (!CoreInRange(core))
        {
            return 0;
        }

        ulong bit = 1UL << core;
        int n = 0;
        for (int i = 0; i < _h.DomainFresh && n < destination.Length; i++)
        {
            if (_domains[i].Live && (_domains[i].CoreMap & bit) != 0)
            {
                destination[n++] = HandleOf(i);
            }
        }

        return n;
    }
}
