// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>
/// The capability engine: security domains, their capability tables, region derivation trees, per-domain permission
/// trackers, devices, cores and the update queue (a re-implementation of Tyche's <c>capa-engine</c>).
/// </summary>
/// <remarks>
/// <para>Every <c>Try…</c> method returns a <see cref="CapabilityError"/>; on anything but <see cref="CapabilityError.Ok"/>
/// the engine is exactly as it was before the call (an undo journal restores every slot the operation touched).</para>
/// <para>After construction no method allocates managed memory: pools are arrays of structs sized from
/// <see cref="EngineCapacities"/> and every output goes into a caller span.</para>
/// <para>The engine is not thread-safe; a monitor serialises calls (one lock, or one engine per core group).</para>
/// </remarks>
public sealed partial class CapabilityEngine
{
    /// <summary>Creates an empty engine. The first domain created gets id 1 and handle <c>H(0, gen 0)</c>.</summary>
    /// <param name="capacities">Pool sizes; <see cref="EngineCapacities.Default"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A capacity is out of range.</exception>
    public CapabilityEngine(EngineCapacities? capacities = null)
    {
        Capacities = capacities ?? EngineCapacities.Default;
        Capacities.Validate();
        _caps = Capacities.CapabilitiesPerDomain;
        _domains = new DomainSlot[Capacities.Domains];
        _capSlots = new CapSlot[Capacities.Domains * _caps];
        _regions = new RegionNode[Capacities.Regions];
        _tracker = new TrackerNode[Capacities.TrackerNodes];
        _updates = new Update[Capacities.PendingUpdates];
        _cores = new CoreSlot[Capacities.Cores];
        _devices = new DeviceSlot[Capacities.Devices];
        _hashes = new RegionHash[Capacities.Regions + Capacities.Domains];
        _journal = new Journal(this);
        _h.DomainFree = -1;
        _h.RegionFree = -1;
        _h.TrackerFree = -1;
        for (int i = 0; i < _cores.Length; i++)
        {
            _cores[i].Domain = -1;
        }
    }

    /// <summary>The pool sizes this engine was built with.</summary>
    public EngineCapacities Capacities { get; }

    // ------------------------------------------------------------------ domains

    /// <summary>Creates a root manager domain (reference <c>create_manager_domain</c>): sealed, all cores, all traps, no manager.</summary>
    /// <param name="permissions">Its PERMISSION bitmap; bits outside <see cref="DomainPermissions.All"/> give <see cref="CapabilityError.InvalidOperation"/>.</param>
    /// <param name="domain">The new domain.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.InvalidOperation"/>, <see cref="CapabilityError.OutOfMemory"/> or <see cref="CapabilityError.UpdateQueueFull"/>.</returns>
    public CapabilityError TryCreateManagerDomain(DomainPermissions permissions, out DomainHandle domain)
    {
        BeginOp();
        return EndOp(CreateManagerDomainCore(permissions, out domain), ref domain);
    }

    /// <summary>Records that <paramref name="domain"/> starts executing on <paramref name="core"/> (boot; reference <c>start_domain_on_core</c>).</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="core">The core; must be in range and not yet initialised.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/> or <see cref="CapabilityError.InvalidCore"/>.</returns>
    public CapabilityError TryStartDomainOnCore(DomainHandle domain, int core)
    {
        BeginOp();
        return EndOp(StartDomainOnCoreCore(domain, core));
    }

    /// <summary>Creates an unsealed child domain managed by <paramref name="manager"/> (needs SPAWN).</summary>
    /// <param name="manager">The creating domain.</param>
    /// <param name="management">The Management capability to the child, in the manager's table.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryCreateDomain(DomainHandle manager, out LocalCapability management)
    {
        BeginOp();
        return EndOp(CreateDomainCore(manager, false, out management), ref management);
    }

    /// <summary>Creates an unsealed I/O child domain (identical to <see cref="TryCreateDomain"/> except for the I/O flag).</summary>
    /// <param name="manager">The creating domain.</param>
    /// <param name="management">The Management capability to the child.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryCreateIoDomain(DomainHandle manager, out LocalCapability management)
    {
        BeginOp();
        return EndOp(CreateDomainCore(manager, true, out management), ref management);
    }

    /// <summary>The domain behind a Management or Channel capability (reference <c>get_domain_capa</c>); the handle may be stale if that domain died.</summary>
    /// <param name="domain">The holder.</param>
    /// <param name="capability">A Management or Channel capability of the holder.</param>
    /// <param name="target">The designated domain.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/>, <see cref="CapabilityError.CapabilityDoesNotExist"/> or <see cref="CapabilityError.WrongCapabilityType"/>.</returns>
    public CapabilityError TryGetDomainHandle(DomainHandle domain, LocalCapability capability, out DomainHandle target) =>
        GetDomainHandleCore(domain, capability, out target);

    /// <summary>Revokes a domain with everything it holds and every domain it manages (reference <c>revoke_domain</c>).</summary>
    /// <param name="domain">The domain to revoke.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/>, <see cref="CapabilityError.DomainRunning"/>, <see cref="CapabilityError.OwnsRootRegion"/> or <see cref="CapabilityError.UpdateQueueFull"/>.</returns>
    public CapabilityError TryRevokeDomain(DomainHandle domain)
    {
        BeginOp();
        return EndOp(RevokeDomainCore(domain));
    }

    /// <summary>Sets a configuration bitmap of a child (reference <c>set_child_config</c>); the manager must hold every bit of <paramref name="value"/>.</summary>
    /// <param name="manager">The manager.</param>
    /// <param name="management">Its Management capability to the child.</param>
    /// <param name="bitmap">Which bitmap.</param>
    /// <param name="value">The new value.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed (<see cref="CapabilityError.AlreadySealed"/> for a sealed child).</returns>
    public CapabilityError TrySetChildConfiguration(DomainHandle manager, LocalCapability management, ConfigurationBitmap bitmap, ulong value)
    {
        BeginOp();
        return EndOp(SetChildConfigurationCore(manager, management, bitmap, value));
    }

    /// <summary>Sets one of a domain's own configuration bitmaps without a permission check (reference <c>set_domain_config</c>, monitor only).</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="bitmap">Which bitmap.</param>
    /// <param name="value">The new value.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed (<see cref="CapabilityError.AlreadySealed"/> for a sealed domain).</returns>
    public CapabilityError TrySetDomainConfiguration(DomainHandle domain, ConfigurationBitmap bitmap, ulong value)
    {
        BeginOp();
        return EndOp(SetDomainConfigurationCore(domain, bitmap, value));
    }

    /// <summary>Reads one of a domain's configuration bitmaps (reference <c>get_domain_config</c>).</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="bitmap">Which bitmap.</param>
    /// <param name="value">Its value.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/> or <see cref="CapabilityError.InvalidValue"/>.</returns>
    public CapabilityError TryGetDomainConfiguration(DomainHandle domain, ConfigurationBitmap bitmap, out ulong value) =>
        GetDomainConfigurationCore(domain, bitmap, out value);

    /// <summary>Seals a child and gives the manager a Switch capability to it on <paramref name="core"/> (reference <c>seal</c>).</summary>
    /// <param name="manager">The manager.</param>
    /// <param name="core">The core the Switch capability is for.</param>
    /// <param name="management">The Management capability to the child.</param>
    /// <param name="switchCapability">The new Switch capability in the manager's table.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TrySeal(DomainHandle manager, int core, LocalCapability management, out LocalCapability switchCapability)
    {
        BeginOp();
        return EndOp(SealCore(manager, core, management, out switchCapability), ref switchCapability);
    }

    /// <summary>A snapshot of a domain's state.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="info">Its state.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.StaleDomain"/>.</returns>
    public CapabilityError TryGetDomainInfo(DomainHandle domain, out DomainInfo info) => GetDomainInfoCore(domain, out info);

    /// <summary>Whether the handle designates a live domain.</summary>
    /// <param name="domain">The handle.</param>
    /// <returns>True when the domain is live.</returns>
    public bool IsLive(DomainHandle domain) => IsLiveHandle(domain);

    /// <summary>Writes the live domains in ascending slot order (reference <c>enumerate_domains</c>).</summary>
    /// <param name="destination">Where to write; if too small, only the first domains are written.</param>
    /// <returns>The number written.</returns>
    public int GetDomains(Span<DomainHandle> destination) => GetDomainsCore(destination);

    /// <summary>The number of live domains.</summary>
    public int DomainCount => _h.DomainCount;

    /// <summary>Stores a domain's measurement (reference <c>set_hash</c>); the attestation layer computes it at seal time.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="measurement">The SHA-256 measurement.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.StaleDomain"/>.</returns>
    public CapabilityError TrySetMeasurement(DomainHandle domain, in RegionHash measurement)
    {
        BeginOp();
        return EndOp(SetMeasurementCore(domain, measurement));
    }

    /// <summary>Reads a domain's measurement (zeros and <paramref name="isSet"/> false when never set).</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="measurement">The stored measurement.</param>
    /// <param name="isSet">Whether one was stored.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.StaleDomain"/>.</returns>
    public CapabilityError TryGetMeasurement(DomainHandle domain, out RegionHash measurement, out bool isSet) =>
        GetMeasurementCore(domain, out measurement, out isSet);

    // ------------------------------------------------------------------ regions

    /// <summary>Creates a confidential root region owned by <paramref name="domain"/> (boot only; reference <c>create_root_region</c>).</summary>
    /// <param name="domain">The owner.</param>
    /// <param name="access">Range and rights.</param>
    /// <param name="region">The new Region capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.InvalidCapa"/> (stale domain, as the reference), <see cref="CapabilityError.OutOfMemory"/>, <see cref="CapabilityError.InvalidOperation"/> or <see cref="CapabilityError.UpdateQueueFull"/>.</returns>
    public CapabilityError TryCreateRootRegion(DomainHandle domain, in AccessRights access, out LocalCapability region)
    {
        BeginOp();
        return EndOp(CreateRootRegionCore(domain, access, out region), ref region);
    }

    /// <summary>Creates a shared sub-range of a region (needs ALIAS); the alias belongs to the region's owner.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">A Region capability of the caller.</param>
    /// <param name="access">The sub-range and rights (rights ⊆ the parent's, plus attribute flags).</param>
    /// <param name="alias">The new Region capability (in the owner's table).</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryAlias(DomainHandle domain, LocalCapability region, in AccessRights access, out LocalCapability alias) =>
        TryAlias(domain, region, access, CleanupPolicy.Zero, out alias);

    /// <summary>Creates a shared sub-range of a region with a cleanup policy (used when <paramref name="access"/> has <see cref="MemoryOperations.Cleanup"/>).</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">A Region capability of the caller.</param>
    /// <param name="access">The sub-range and rights.</param>
    /// <param name="cleanup">How the range is cleaned when the alias is revoked.</param>
    /// <param name="alias">The new Region capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryAlias(DomainHandle domain, LocalCapability region, in AccessRights access, CleanupPolicy cleanup, out LocalCapability alias)
    {
        if (!_explicitTx && TryFastDerive(domain, region, access, cleanup, false, out alias))
        {
            return CapabilityError.Ok;
        }

        BeginOp();
        return EndOp(DeriveCore(domain, region, access, cleanup, false, out alias), ref alias);
    }

    /// <summary>Creates an exclusive sub-range of a region (needs CARVE).</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">A Region capability of the caller.</param>
    /// <param name="access">The sub-range and rights.</param>
    /// <param name="carve">The new Region capability (in the owner's table).</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryCarve(DomainHandle domain, LocalCapability region, in AccessRights access, out LocalCapability carve) =>
        TryCarve(domain, region, access, CleanupPolicy.Zero, out carve);

    /// <summary>Creates an exclusive sub-range of a region with a cleanup policy.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">A Region capability of the caller.</param>
    /// <param name="access">The sub-range and rights.</param>
    /// <param name="cleanup">How the range is cleaned when the carve is revoked.</param>
    /// <param name="carve">The new Region capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryCarve(DomainHandle domain, LocalCapability region, in AccessRights access, CleanupPolicy cleanup, out LocalCapability carve)
    {
        if (!_explicitTx && TryFastDerive(domain, region, access, cleanup, true, out carve))
        {
            return CapabilityError.Ok;
        }

        BeginOp();
        return EndOp(DeriveCore(domain, region, access, cleanup, true, out carve), ref carve);
    }

    /// <summary>Creates a RegionRevoke (for a Region) or DeviceRevoke (for a Device) capability in the caller's table.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">A Region or Device capability.</param>
    /// <param name="revoke">The new revoke capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryCreateRevokeCapability(DomainHandle domain, LocalCapability capability, out LocalCapability revoke)
    {
        BeginOp();
        return EndOp(CreateRevokeCore(domain, capability, out revoke), ref revoke);
    }

    /// <summary>Duplicates a Channel or RegionRevoke capability (needs DUPLICATE).</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">The capability to copy.</param>
    /// <param name="copy">The copy.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryDuplicate(DomainHandle domain, LocalCapability capability, out LocalCapability copy)
    {
        BeginOp();
        return EndOp(DuplicateCore(domain, capability, out copy), ref copy);
    }

    /// <summary>Moves a capability to the domain behind a Management or Channel capability (needs SEND); clears a region's hash.</summary>
    /// <param name="domain">The sender.</param>
    /// <param name="capability">The capability to move.</param>
    /// <param name="to">The sender's Management or Channel capability to the receiver.</param>
    /// <param name="received">The capability's index in the receiver's table.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TrySend(DomainHandle domain, LocalCapability capability, LocalCapability to, out LocalCapability received)
    {
        if (!_explicitTx && TryFastSend(domain, capability, to, out received))
        {
            return CapabilityError.Ok;
        }

        BeginOp();
        return EndOp(SendCore(domain, capability, to, false, default, out received), ref received);
    }

    /// <summary>Like <see cref="TrySend"/>, and attaches <paramref name="hash"/> to a sent region (reference <c>send_with_hash</c>).</summary>
    /// <param name="domain">The sender.</param>
    /// <param name="capability">The capability to move.</param>
    /// <param name="to">The sender's Management or Channel capability to the receiver.</param>
    /// <param name="hash">The hash to attach to the region.</param>
    /// <param name="received">The capability's index in the receiver's table.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TrySendWithHash(DomainHandle domain, LocalCapability capability, LocalCapability to, in RegionHash hash, out LocalCapability received)
    {
        BeginOp();
        return EndOp(SendCore(domain, capability, to, true, hash, out received), ref received);
    }

    /// <summary>Atomically aliases a sub-range, keeps a RegionRevoke capability for it and sends the alias.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The caller's Region capability to share from.</param>
    /// <param name="access">The shared sub-range and rights.</param>
    /// <param name="to">The caller's Management or Channel capability to the receiver.</param>
    /// <param name="revoke">The RegionRevoke capability kept by the caller.</param>
    /// <param name="received">The alias's index in the receiver's table.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the first step's error (nothing changes).</returns>
    public CapabilityError TryShare(DomainHandle domain, LocalCapability region, in AccessRights access, LocalCapability to,
        out LocalCapability revoke, out LocalCapability received)
    {
        BeginOp();
        return EndOp(ShareCore(domain, region, access, to, false, out revoke, out received), ref revoke, ref received);
    }

    /// <summary>Atomically carves a sub-range, keeps a RegionRevoke capability for it and sends the carve.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The caller's Region capability to grant from.</param>
    /// <param name="access">The granted sub-range and rights.</param>
    /// <param name="to">The caller's Management or Channel capability to the receiver.</param>
    /// <param name="revoke">The RegionRevoke capability kept by the caller.</param>
    /// <param name="received">The carve's index in the receiver's table.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the first step's error (nothing changes).</returns>
    public CapabilityError TryGrant(DomainHandle domain, LocalCapability region, in AccessRights access, LocalCapability to,
        out LocalCapability revoke, out LocalCapability received)
    {
        BeginOp();
        return EndOp(ShareCore(domain, region, access, to, true, out revoke, out received), ref revoke, ref received);
    }

    /// <summary>Revokes a capability of the caller with its cascade (reference <c>revoke</c>); the slot becomes a tombstone.</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">The capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryRevoke(DomainHandle domain, LocalCapability capability)
    {
        if (!_explicitTx && TryFastRevoke(domain, capability))
        {
            return CapabilityError.Ok;
        }

        BeginOp();
        return EndOp(RevokeCore(domain, capability));
    }

    /// <summary>The effective ranges of a region capability: its range minus its carved children, in address order.</summary>
    /// <param name="domain">The holder.</param>
    /// <param name="region">A Region capability.</param>
    /// <param name="destination">Where to write.</param>
    /// <param name="written">How many were written.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.OutOfMemory"/> (destination too small; nothing written) or a lookup error.</returns>
    public CapabilityError TryGetEffectiveRegions(DomainHandle domain, LocalCapability region, Span<AccessRights> destination, out int written) =>
        GetEffectiveRegionsCore(domain, region, destination, out written);

    /// <summary>The range, rights, cleanup policy and hash of a region capability.</summary>
    /// <param name="domain">The holder.</param>
    /// <param name="region">A Region or RegionRevoke capability.</param>
    /// <param name="access">Range and operations.</param>
    /// <param name="cleanup">The cleanup policy (<see cref="CleanupPolicy.None"/> without <see cref="MemoryOperations.Cleanup"/>).</param>
    /// <param name="hash">The attached hash.</param>
    /// <param name="hasHash">Whether a hash is attached.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or a lookup error.</returns>
    public CapabilityError TryGetRegionInfo(DomainHandle domain, LocalCapability region, out AccessRights access, out CleanupPolicy cleanup,
        out RegionHash hash, out bool hasHash) =>
        GetRegionInfoCore(domain, region, out access, out cleanup, out hash, out hasHash);

    // ------------------------------------------------------------------ devices

    /// <summary>Creates the root Device capability of a PCI function for a domain (boot).</summary>
    /// <param name="domain">The first owner.</param>
    /// <param name="device">The PCI function.</param>
    /// <param name="capability">The Device capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/>, <see cref="CapabilityError.DeviceAlreadyExists"/>, <see cref="CapabilityError.OutOfMemory"/> or <see cref="CapabilityError.UpdateQueueFull"/>.</returns>
    public CapabilityError TryCreateRootDevice(DomainHandle domain, DeviceId device, out LocalCapability capability)
    {
        BeginOp();
        return EndOp(CreateRootDeviceCore(domain, device, out capability), ref capability);
    }

    /// <summary>The domain that owns a device.</summary>
    /// <param name="device">The PCI function.</param>
    /// <param name="owner">Its owner.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.InvalidValue"/> (unknown device).</returns>
    public CapabilityError TryGetDeviceOwner(DeviceId device, out DomainHandle owner) => GetDeviceOwnerCore(device, out owner);

    /// <summary>Writes the devices a domain owns, in creation order.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="destination">Where to write; if too small, only the first devices are written.</param>
    /// <returns>The number written (0 for a stale domain).</returns>
    public int GetDevices(DomainHandle domain, Span<DeviceId> destination) => GetDevicesCore(domain, destination);

    // ------------------------------------------------------------------ cores and switching

    /// <summary>Creates a Switch capability to the caller itself on <paramref name="core"/> (reference <c>create_switch</c>).</summary>
    /// <param name="domain">The caller.</param>
    /// <param name="core">The core.</param>
    /// <param name="capability">The new Switch capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryCreateSwitch(DomainHandle domain, int core, out LocalCapability capability)
    {
        BeginOp();
        return EndOp(CreateSwitchCore(domain, core, out capability), ref capability);
    }

    /// <summary>Consumes a Switch capability and transfers <paramref name="core"/> to its target (reference <c>switch</c>).</summary>
    /// <param name="domain">The current domain.</param>
    /// <param name="core">The core.</param>
    /// <param name="capability">The Switch capability.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TrySwitch(DomainHandle domain, int core, LocalCapability capability)
    {
        if (!_explicitTx && TryFastSwitch(domain, core, capability))
        {
            return CapabilityError.Ok;
        }

        BeginOp();
        return EndOp(SwitchCore(domain, core, capability));
    }

    /// <summary>Routes a trap to the first domain of the manager chain (starting at the domain itself) whose TRAP bitmap matches (reference <c>handle_trap</c>).</summary>
    /// <param name="domain">The trapping domain.</param>
    /// <param name="core">The core.</param>
    /// <param name="trap">The trap bitmask.</param>
    /// <param name="info">The trap information word.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.ValidTrapCausedExit"/>, <see cref="CapabilityError.CouldNotHandleTrap"/>, ….</returns>
    public CapabilityError TryHandleTrap(DomainHandle domain, int core, ulong trap, ulong info)
    {
        BeginOp();
        return EndOp(HandleTrapCore(domain, core, trap, info));
    }

    /// <summary>Switches back to the manager with the return capability for <paramref name="core"/> (reference <c>handle_violation</c>).</summary>
    /// <param name="domain">The faulting domain.</param>
    /// <param name="core">The core.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or the reason it failed.</returns>
    public CapabilityError TryHandleViolation(DomainHandle domain, int core)
    {
        if (!_explicitTx && TryFastHandleViolation(domain, core))
        {
            return CapabilityError.Ok;
        }

        BeginOp();
        return EndOp(HandleViolationCore(domain, core));
    }

    /// <summary>Queues a PermissionUpdate for the domain unless one is pending (reference <c>conditional_permission_update</c>).</summary>
    /// <param name="domain">The domain.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/> or <see cref="CapabilityError.UpdateQueueFull"/>.</returns>
    public CapabilityError TryConditionalPermissionUpdate(DomainHandle domain)
    {
        BeginOp();
        return EndOp(ConditionalPermissionUpdateCore(domain));
    }

    /// <summary>The domain running on a core.</summary>
    /// <param name="core">The core.</param>
    /// <param name="domain">The running domain.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.InvalidCore"/> (out of range or never started).</returns>
    public CapabilityError TryGetRunningDomain(int core, out DomainHandle domain) => GetRunningDomainCore(core, out domain);

    /// <summary>Writes the live domains whose CORE bitmap contains <paramref name="core"/>, in slot order.</summary>
    /// <param name="core">The core.</param>
    /// <param name="destination">Where to write; if too small, only the first domains are written.</param>
    /// <returns>The number written (0 for a core out of range).</returns>
    public int GetDomainsAllowedOnCore(int core, Span<DomainHandle> destination) => GetDomainsAllowedOnCoreCore(core, destination);

    // ------------------------------------------------------------------ inspection

    /// <summary>
    /// Returns the next valid capability at an index ≥ <paramref name="token"/> and advances the token past it
    /// (reference <c>enumerate</c>). Invalid slots on the way (tombstones, dead targets) are freed.
    /// </summary>
    /// <param name="domain">The domain.</param>
    /// <param name="token">Start at 0; updated to the index after the one returned.</param>
    /// <param name="index">The capability's index.</param>
    /// <param name="info">What it is.</param>
    /// <returns>False at the end of the table or for a stale domain.</returns>
    public bool TryEnumerate(DomainHandle domain, ref int token, out LocalCapability index, out CapabilityInfo info)
    {
        BeginOp();
        bool found = EnumerateCore(domain, ref token, out index, out info);
        EndOp(CapabilityError.Ok);
        return found;
    }

    /// <summary>What a capability is, without changing anything.</summary>
    /// <param name="domain">The holder.</param>
    /// <param name="capability">The capability.</param>
    /// <param name="info">Its description.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/>, <see cref="CapabilityError.CapabilityDoesNotExist"/> or <see cref="CapabilityError.InvalidCapa"/> (tombstone or dead target).</returns>
    public CapabilityError TryGetCapabilityInfo(DomainHandle domain, LocalCapability capability, out CapabilityInfo info) =>
        GetCapabilityInfoCore(domain, capability, out info);

    /// <summary>The number of effective permission ranges of a domain (0 for a stale handle).</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>The count.</returns>
    public int GetPermissionCount(DomainHandle domain) => TrackerCount(domain);

    /// <summary>The effective permission ranges of a domain, in address order (reference <c>get_domain_permissions</c>).</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="destination">Where to write.</param>
    /// <param name="written">How many were written.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/> or <see cref="CapabilityError.OutOfMemory"/> (too small; nothing written).</returns>
    public CapabilityError TryGetPermissions(DomainHandle domain, Span<MemoryPermission> destination, out int written) =>
        GetPermissionsCore(domain, destination, out written);

    /// <summary>The number of tracker nodes of a domain (0 for a stale handle).</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>The count.</returns>
    public int GetTrackerSegmentCount(DomainHandle domain) => TrackerCount(domain);

    /// <summary>A domain's tracker nodes with their counters, in address order (reference <c>get_domain_regions</c>).</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="destination">Where to write.</param>
    /// <param name="written">How many were written.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.StaleDomain"/> or <see cref="CapabilityError.OutOfMemory"/>.</returns>
    public CapabilityError TryGetTrackerSegments(DomainHandle domain, Span<TrackerSegment> destination, out int written) =>
        GetTrackerSegmentsCore(domain, destination, out written);

    /// <summary>The number of segments <see cref="TryGetMemoryMap"/> writes.</summary>
    /// <returns>The count.</returns>
    public int GetMemoryMapLength() => MemoryMapCore(default, false, out _);

    /// <summary>
    /// The system-wide memory map: maximal ranges over which the set of live domains with access, and their rights, is
    /// constant, with the number of distinct domains (HotOS paper, Figure 4). Ranges nobody can access are omitted.
    /// </summary>
    /// <param name="destination">Where to write.</param>
    /// <param name="written">How many were written.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.OutOfMemory"/> (too small; nothing written).</returns>
    public CapabilityError TryGetMemoryMap(Span<MemoryMapSegment> destination, out int written)
    {
        int needed = MemoryMapCore(default, false, out _);
        if (destination.Length < needed)
        {
            written = 0;
            return CapabilityError.OutOfMemory;
        }

        written = MemoryMapCore(destination, true, out _);
        return CapabilityError.Ok;
    }

    /// <summary>The live domains that can access <paramref name="address"/>, with their rights there, in slot order.</summary>
    /// <param name="address">A physical address.</param>
    /// <param name="destination">Where to write.</param>
    /// <param name="written">How many were written.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.OutOfMemory"/> (too small; nothing written).</returns>
    public CapabilityError TryGetAccessors(ulong address, Span<MemoryAccessor> destination, out int written) =>
        GetAccessorsCore(address, destination, out written);

    /// <summary>Free slots of every pool (reference <c>get_capacity</c> plus devices).</summary>
    /// <returns>The free counts.</returns>
    public FreeCapacity GetFreeCapacity() =>
        new(_domains.Length - _h.DomainCount, _regions.Length - _h.RegionCount, _tracker.Length - _h.TrackerCount,
            _updates.Length - _h.QueueCount, _devices.Length - _h.DeviceCount);

    /// <summary>The exact length <see cref="TrySerializeAttestation"/> writes.</summary>
    /// <returns>The length in bytes.</returns>
    public int GetAttestationLength() => SerializeCore(default, false);

    /// <summary>Writes the reference "capa" attestation serialization of every region tree and domain (notes §5.2), with the exact length.</summary>
    /// <param name="destination">Where to write.</param>
    /// <param name="written">The number of bytes written.</param>
    /// <returns><see cref="CapabilityError.Ok"/> or <see cref="CapabilityError.OutOfMemory"/> (too small; nothing written).</returns>
    public CapabilityError TrySerializeAttestation(Span<byte> destination, out int written)
    {
        int needed = SerializeCore(default, false);
        if (destination.Length < needed)
        {
            written = 0;
            return CapabilityError.OutOfMemory;
        }

        written = SerializeCore(destination, true);
        return CapabilityError.Ok;
    }

    /// <summary>Checks invariants I1–I8 (SPEC §1) and writes the violations found (as many as fit).</summary>
    /// <param name="destination">Where to write violations.</param>
    /// <returns>The total number of violations (may exceed the destination length).</returns>
    public int CheckInvariants(Span<InvariantViolation> destination) => CheckInvariantsCore(destination);

    // ------------------------------------------------------------------ updates

    /// <summary>Pops the oldest pending update (FIFO).</summary>
    /// <param name="update">The update.</param>
    /// <returns>False when the queue is empty.</returns>
    public bool TryPopUpdate(out Update update) => PopUpdateCore(out update);

    /// <summary>Pops pending updates into <paramref name="destination"/>, oldest first, until it is full or the queue is empty.</summary>
    /// <param name="destination">Where to write.</param>
    /// <returns>The number popped.</returns>
    public int DrainUpdates(Span<Update> destination)
    {
        int n = Math.Min(destination.Length, _h.QueueCount);
        destination = destination[..n];
        for (int i = 0; i < destination.Length; i++)
        {
            PopUpdateCore(out destination[i]);
        }

        return n;
    }

    /// <summary>The number of pending updates.</summary>
    public int PendingUpdateCount => _h.QueueCount;

    // ------------------------------------------------------------------ transactions

    /// <summary>
    /// Opens a transaction: until <see cref="CommitTransaction"/> or <see cref="RollbackTransaction"/>, every change can be
    /// undone. If an operation fails inside an open transaction, the <em>whole</em> transaction is rolled back (the engine
    /// returns to its state at <see cref="BeginTransaction"/>) and the transaction stays open, empty.
    /// </summary>
    /// <exception cref="InvalidOperationException">A transaction is already open.</exception>
    public void BeginTransaction()
    {
        if (_explicitTx)
        {
            ThrowHelper.ThrowTransactionAlreadyOpen();
        }

        _journal.Begin();
        _explicitTx = true;
    }

    /// <summary>Keeps every change made since <see cref="BeginTransaction"/>.</summary>
    /// <exception cref="InvalidOperationException">No transaction is open.</exception>
    public void CommitTransaction()
    {
        if (!_explicitTx)
        {
            ThrowHelper.ThrowNoTransaction();
        }

        _explicitTx = false;
        _journal.Commit();
    }

    /// <summary>Undoes every change made since <see cref="BeginTransaction"/> (domains, tables, trees, trackers, queue, devices, cores).</summary>
    /// <exception cref="InvalidOperationException">No transaction is open.</exception>
    public void RollbackTransaction()
    {
        if (!_explicitTx)
        {
            ThrowHelper.ThrowNoTransaction();
        }

        _explicitTx = false;
        _journal.Rollback();
    }

    /// <summary>Whether a transaction opened by <see cref="BeginTransaction"/> is open.</summary>
    public bool InTransaction => _explicitTx;
}
