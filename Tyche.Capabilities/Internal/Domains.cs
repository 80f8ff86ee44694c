// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>Domain lifecycle, configuration, sealing, capability transfer and revocation.</summary>
public sealed partial class CapabilityEngine
{
    private const ulong AllBits = ulong.MaxValue;

    private static bool TryBitmapMask(ConfigurationBitmap bitmap, out ulong mask, out byte flag)
    {
        switch (bitmap)
        {
            case ConfigurationBitmap.Permission:
                mask = (ulong)DomainPermissions.All;
                flag = ConfigPermissionSet;
                return true;
            case ConfigurationBitmap.Trap:
                mask = AllBits;
                flag = ConfigTrapSet;
                return true;
            case ConfigurationBitmap.Core:
                mask = AllBits;
                flag = ConfigCoreSet;
                return true;
            default:
                mask = 0;
                flag = 0;
                return false;
        }
    }

    private ulong ReadBitmap(int d, ConfigurationBitmap bitmap) => bitmap switch
    {
        ConfigurationBitmap.Permission => _domains[d].Permissions,
        ConfigurationBitmap.Trap => _domains[d].Traps,
        _ => _domains[d].CoreMap,
    };

    private void WriteBitmap(int d, ConfigurationBitmap bitmap, ulong value, byte flag)
    {
        ref DomainSlot slot = ref WDomain(d);
        switch (bitmap)
        {
            case ConfigurationBitmap.Permission:
                slot.Permissions = value;
                break;
            case ConfigurationBitmap.Trap:
                slot.Traps = value;
                break;
            default:
                slot.CoreMap = value;
                break;
        }

        slot.ConfigSet |= flag;
    }

    private bool CoreInRange(int core) => (uint)core < (uint)_cores.Length;

    private CapabilityError CreateManagerDomainCore(DomainPermissions permissions, out DomainHandle domain)
    {
        domain = default;
        int d = AllocDomain();
        if (d == NoSlot)
        {
            return CapabilityError.OutOfMemory;
        }

        if (((ulong)permissions & ~(ulong)DomainPermissions.All) != 0)
        {
            return CapabilityError.InvalidOperation;
        }

        ref DomainSlot slot = ref WDomain(d);
        slot.Id = ++_h.IdCounter;
        slot.Permissions = (ulong)permissions;
        slot.CoreMap = AllBits;
        slot.Traps = AllBits;
        slot.ConfigSet = ConfigAllSet;
        slot.Sealed = true;
        domain = HandleOf(d);
        return Push(new Update(UpdateKind.CreateDomain, domain));
    }

    private CapabilityError StartDomainOnCoreCore(DomainHandle domain, int core)
    {
        if (!CoreInRange(core) || _cores[core].Initialized)
        {
            return CapabilityError.InvalidCore;
        }

        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        ref CoreSlot c = ref WCore(core);
        c.Initialized = true;
        c.Domain = d;
        c.Generation = _domains[d].Generation;
        WDomain(d).RunningCores |= 1UL << core;
        return CapabilityError.Ok;
    }

    private CapabilityError CreateDomainCore(DomainHandle manager, bool io, out LocalCapability management)
    {
        management = default;
        if (!TryDomainIndex(manager, out int m))
        {
            return CapabilityError.StaleDomain;
        }

        if ((_domains[m].Permissions & (ulong)DomainPermissions.Spawn) == 0)
        {
            return CapabilityError.InsufficientPermissions;
        }

        int d = AllocDomain();
        if (d == NoSlot)
        {
            return CapabilityError.OutOfMemory;
        }

        ref DomainSlot slot = ref WDomain(d);
        slot.Id = ++_h.IdCounter;
        slot.Manager = m;
        slot.ManagerGeneration = _domains[m].Generation;
        slot.IsIo = io;
        CapabilityError e = InsertCap(m, CapabilityKind.Management, d, _domains[d].Generation, 0, 0, out int local);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        management = local;
        return Push(new Update(UpdateKind.CreateDomain, HandleOf(d)));
    }

    private CapabilityError GetDomainHandleCore(DomainHandle domain, LocalCapability capability, out DomainHandle target)
    {
        target = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        CapabilityError e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        CapabilityKind kind = _capSlots[slot].Kind;
        if (kind != CapabilityKind.Management && kind != CapabilityKind.Channel)
        {
            return CapabilityError.WrongCapabilityType;
        }

        target = new DomainHandle(_capSlots[slot].Target, _capSlots[slot].TargetGeneration);
        return CapabilityError.Ok;
    }

    /// <summary>Looks up a live Management capability (or, when <paramref name="allowChannel"/>, a Channel) and its live target.</summary>
    private CapabilityError GetDomainCap(int d, LocalCapability capability, bool allowChannel, out int slot, out int target)
    {
        target = NoSlot;
        CapabilityError e = GetCap(d, capability, out slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        CapabilityKind kind = _capSlots[slot].Kind;
        if (kind != CapabilityKind.Management && !(allowChannel && kind == CapabilityKind.Channel))
        {
            return CapabilityError.WrongCapabilityType;
        }

        if (!IsCapValid(slot))
        {
            return CapabilityError.InvalidCapa;
        }

        target = _capSlots[slot].Target;
        return CapabilityError.Ok;
    }

    private CapabilityError RevokeDomainCore(DomainHandle domain)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        return RevokeDomainIndex(d);
    }

    /// <summary>
    /// Revokes a domain (reference <c>domain::revoke</c>): RevokeDomain update, then every valid capability in slot order
    /// (cascading into managed domains and region subtrees), then the slot is freed. Refused while the domain runs.
    /// </summary>
    private CapabilityError RevokeDomainIndex(int d)
    {
        if (_domains[d].BeingRevoked)
        {
            return CapabilityError.Ok;
        }

        if (_domains[d].RunningCores != 0)
        {
            return CapabilityError.DomainRunning;
        }

        WDomain(d).BeingRevoked = true;
        CapabilityError e = Push(new Update(UpdateKind.RevokeDomain, HandleOf(d)));
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        int fresh = _domains[d].CapFresh;
        for (int local = 0; local < fresh; local++)
        {
            int slot = CapSlotIndex(d, local);
            if (!IsCapValid(slot))
            {
                continue;
            }

            e = RevokeCapability(d, slot, true);
            if (e != CapabilityError.Ok)
            {
                return e;
            }
        }

        FreeAllTracker(d);
        FreeDomain(d);
        return CapabilityError.Ok;
    }

    /// <summary>Revokes what one capability designates, then tombstones the slot (reference <c>revoke_capa</c>).</summary>
    private CapabilityError RevokeCapability(int d, int slot, bool domainCascade)
    {
        CapSlot c = _capSlots[slot];
        CapabilityError e = CapabilityError.Ok;
        switch (c.Kind)
        {
            case CapabilityKind.Region:
                if (IsCapValid(slot))
                {
                    e = RevokeRegion(c.Target);
                }

                break;
            case CapabilityKind.RegionRevoke:
                if (IsCapValid(slot))
                {
                    if (_regions[c.Target].Kind == RegionRoot)
                    {
                        e = domainCascade ? CapabilityError.Ok : CapabilityError.InvalidOperation;
                    }
                    else
                    {
                        e = RevokeRegion(c.Target);
                    }
                }

                break;
            case CapabilityKind.Management:
                if (IsCapValid(slot))
                {
                    e = RevokeDomainIndex(c.Target);
                }

                break;
            case CapabilityKind.Device:
                if (IsCapValid(slot))
                {
                    e = ReturnDevice(c.Target, domainCascade ? CapabilityError.OwnsRootRegion : CapabilityError.InvalidOperation);
                }

                break;
            case CapabilityKind.DeviceRevoke:
                if (!domainCascade)
                {
                    return RevokeDeviceRevoke(d, slot);
                }

                break;
        }

        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (_domains[d].Live && _capSlots[slot].Allocated)
        {
            TombstoneCap(slot);
        }

        return CapabilityError.Ok;
    }

    private CapabilityError RevokeCore(DomainHandle domain, LocalCapability capability)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        CapabilityError e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        ref readonly CapSlot c = ref _capSlots[slot];
        if (c.Kind == CapabilityKind.Region && IsCapValid(slot) && _regions[c.Target].Kind == RegionRoot)
        {
            return CapabilityError.InvalidOperation;
        }

        uint generation = _domains[d].Generation;
        e = RevokeCapability(d, slot, false);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        return IsLiveIndex(d, generation) && !_domains[d].BeingRevoked ? CapabilityError.Ok : CapabilityError.RevokesOwnVitalRegion;
    }

    private CapabilityError SetChildConfigurationCore(DomainHandle manager, LocalCapability management, ConfigurationBitmap bitmap, ulong value)
    {
        if (!TryDomainIndex(manager, out int m))
        {
            return CapabilityError.StaleDomain;
        }

        if (!TryBitmapMask(bitmap, out ulong mask, out byte flag))
        {
            return CapabilityError.InvalidValue;
        }

        if ((ReadBitmap(m, bitmap) & value) != value)
        {
            return CapabilityError.InsufficientPermissions;
        }

        CapabilityError e = GetDomainCap(m, management, false, out _, out int child);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (_domains[child].Sealed)
        {
            return CapabilityError.AlreadySealed;
        }

        if ((value & ~mask) != 0)
        {
            return CapabilityError.InvalidOperation;
        }

        WriteBitmap(child, bitmap, value, flag);
        return CapabilityError.Ok;
    }

    private CapabilityError SetDomainConfigurationCore(DomainHandle domain, ConfigurationBitmap bitmap, ulong value)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (!TryBitmapMask(bitmap, out ulong mask, out byte flag))
        {
            return CapabilityError.InvalidValue;
        }

        if (_domains[d].Sealed)
        {
            return CapabilityError.AlreadySealed;
        }

        if ((value & ~mask) != 0)
        {
            return CapabilityError.InvalidOperation;
        }

        WriteBitmap(d, bitmap, value, flag);
        return CapabilityError.Ok;
    }

    private CapabilityError GetDomainConfigurationCore(DomainHandle domain, ConfigurationBitmap bitmap, out ulong value)
    {
        value = 0;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (!TryBitmapMask(bitmap, out _, out _))
        {
            return CapabilityError.InvalidValue;
        }

        value = ReadBitmap(d, bitmap);
        return CapabilityError.Ok;
    }

    private CapabilityError SealCore(DomainHandle manager, int core, LocalCapability management, out LocalCapability switchCapability)
    {
        switchCapability = default;
        if (!TryDomainIndex(manager, out int m))
        {
            return CapabilityError.StaleDomain;
        }

        if (!CoreInRange(core))
        {
            return CapabilityError.InvalidCore;
        }

        CapabilityError e = GetDomainCap(m, management, false, out _, out int child);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (_domains[child].Sealed)
        {
            return CapabilityError.AlreadySealed;
        }

        if (_domains[child].ConfigSet != ConfigAllSet)
        {
            return CapabilityError.InvalidOperation;
        }

        WDomain(child).Sealed = true;
        e = InsertCap(m, CapabilityKind.Switch, child, _domains[child].Generation, core, 0, out int local);
        switchCapability = local;
        return e;
    }

    private CapabilityError GetDomainInfoCore(DomainHandle domain, out DomainInfo info)
    {
        info = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        ref readonly DomainSlot s = ref _domains[d];
        DomainHandle manager = s.Manager == NoSlot ? DomainHandle.Invalid : new DomainHandle(s.Manager, s.ManagerGeneration);
        info = new DomainInfo(s.Id, manager, s.Sealed, s.IsIo, s.RunningCores, s.CoreMap, (DomainPermissions)s.Permissions, s.Traps);
        return CapabilityError.Ok;
    }

    private bool IsLiveHandle(DomainHandle domain) => TryDomainIndex(domain, out _);

    private int GetDomainsCore(Span<DomainHandle> destination)
    {
        int n = 0;
        for (int i = 0; i < _h.DomainFresh && n < destination.Length; i++)
        {
            if (_domains[i].Live)
            {
                destination[n++] = HandleOf(i);
            }
        }

        return n;
    }

    private CapabilityError SetMeasurementCore(DomainHandle domain, in RegionHash measurement)
    {
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        ref DomainSlot s = ref WDomain(d);
        s.HasMeasurement = true;
        WHash(_regions.Length + d) = measurement;
        return CapabilityError.Ok;
    }

    private CapabilityError GetMeasurementCore(DomainHandle domain, out RegionHash measurement, out bool isSet)
    {
        measurement = default;
        isSet = false;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        isSet = _domains[d].HasMeasurement;
        measurement = isSet ? _hashes[_regions.Length + d] : default;
        return CapabilityError.Ok;
    }

    // ------------------------------------------------------------------ transfer

    private CapabilityError CreateRevokeCore(DomainHandle domain, LocalCapability capability, out LocalCapability revoke)
    {
        revoke = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        CapabilityError e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        CapSlot c = _capSlots[slot];
        if (c.Kind != CapabilityKind.Region && c.Kind != CapabilityKind.Device)
        {
            return CapabilityError.WrongCapabilityType;
        }

        if (!IsCapValid(slot))
        {
            return CapabilityError.InvalidCapa;
        }

        int local;
        if (c.Kind == CapabilityKind.Region)
        {
            e = InsertCap(d, CapabilityKind.RegionRevoke, c.Target, c.TargetGeneration, 0, 0, out local);
        }
        else
        {
            e = InsertCap(d, CapabilityKind.DeviceRevoke, c.Target, 0, 0, ++_h.DeviceSerial, out local);
        }

        revoke = local;
        return e;
    }

    private CapabilityError DuplicateCore(DomainHandle domain, LocalCapability capability, out LocalCapability copy)
    {
        copy = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if ((_domains[d].Permissions & (ulong)DomainPermissions.Duplicate) == 0)
        {
            return CapabilityError.InsufficientPermissions;
        }

        CapabilityError e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        CapSlot c = _capSlots[slot];
        if (c.Kind != CapabilityKind.Channel && c.Kind != CapabilityKind.RegionRevoke)
        {
            return CapabilityError.CannotDuplicate;
        }

        e = InsertCap(d, c.Kind, c.Target, c.TargetGeneration, c.Core, c.Serial, out int local);
        copy = local;
        return e;
    }

    private CapabilityError SendCore(DomainHandle domain, LocalCapability capability, LocalCapability to, bool withHash, in RegionHash hash,
        out LocalCapability received)
    {
        received = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if ((_domains[d].Permissions & (ulong)DomainPermissions.Send) == 0)
        {
            return CapabilityError.InsufficientPermissions;
        }

        CapabilityError e = GetDomainCap(d, to, true, out _, out int t);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (!EnsureCapacity(t))
        {
            return CapabilityError.OutOfMemory;
        }

        e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        CapSlot c = _capSlots[slot];
        bool valid = IsCapValid(slot);
        switch (c.Kind)
        {
            case CapabilityKind.Region when valid:
                e = MoveRegion(c.Target, t);
                if (e != CapabilityError.Ok)
                {
                    return e;
                }

                ref RegionNode r = ref WRegion(c.Target);
                r.HasHash = withHash;
                if (withHash)
                {
                    WHash(c.Target) = hash;
                }
                break;
            case CapabilityKind.Management when valid:
                int m = c.Target;
                if ((_domains[m].CoreMap & ~_domains[t].CoreMap) != 0)
                {
                    return CapabilityError.InsufficientPermissions;
                }

                if (IsAncestorOrSelf(m, t))
                {
                    return CapabilityError.ManagementCycle;
                }

                ref DomainSlot md = ref WDomain(m);
                md.Manager = t;
                md.ManagerGeneration = _domains[t].Generation;
                break;
            case CapabilityKind.Device when valid:
                e = MoveDevice(c.Target, d, t);
                if (e != CapabilityError.Ok)
                {
                    return e;
                }

                break;
        }

        FreeCap(d, capability.Index);
        e = InsertCap(t, c.Kind, c.Target, c.TargetGeneration, c.Core, c.Serial, out int local);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (c.Kind == CapabilityKind.Device && valid)
        {
            ref DeviceSlot dev = ref WDevice(c.Target);
            dev.CapDomain = t;
            dev.CapIndex = local;
        }

        received = local;
        return CapabilityError.Ok;
    }

    /// <summary>Whether <paramref name="ancestor"/> is <paramref name="domain"/> or one of its (transitive) managers.</summary>
    private bool IsAncestorOrSelf(int ancestor, int domain)
    {
        int cur = domain;
        for (int steps = 0; cur != NoSlot && steps <= _domains.Length; steps++)
        {
            if (cur == ancestor)
            {
                return true;
            }

            int next = _domains[cur].Manager;
            if (next == NoSlot || !IsLiveIndex(next, _domains[cur].ManagerGeneration))
            {
                return false;
            }

            cur = next;
        }

        return true;
    }

    private CapabilityError ShareCore(DomainHandle domain, LocalCapability region, in AccessRights access, LocalCapability to, bool carve,
        out LocalCapability revoke, out LocalCapability received)
    {
        revoke = default;
        received = default;
        CapabilityError e = DeriveCore(domain, region, access, CleanupPolicy.Zero, carve, out LocalCapability child);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        e = CreateRevokeCore(domain, child, out revoke);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        return SendCore(domain, child, to, false, default, out received);
    }
}
