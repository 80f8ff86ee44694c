// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Frozen;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using static Tyche.Capabilities.Scenarios.ScenarioSyntax;

namespace Tyche.Capabilities.Scenarios;

/// <summary>The commands of the language (one per engine operation, the inspection commands, and this library's additions).</summary>
public sealed partial class ScenarioRunner
{
    /// <summary>The largest pool size <c>reset_capacities</c> accepts (pools are preallocated).</summary>
    private const int MaxScriptCapacity = 65536;

    private static readonly FrozenDictionary<string, Command> s_commands = BuildCommands();

    /// <summary>The usage line of every command, in documentation order (e.g. <c>alias DOM CAPA START END OPS [POLICY]</c>).</summary>
    public static IReadOnlyList<string> CommandSyntaxes { get; } = [.. CommandList().Select(c => c.Syntax)];

    private static FrozenDictionary<string, Command> BuildCommands() =>
        CommandList().ToFrozenDictionary(c => c.Name, StringComparer.Ordinal);

    private static Command[] CommandList() =>
    [
        // Domain lifecycle.
        new("create_manager_domain PERMS", 0, BindKind.Domain, static (r, a) => r.CreateManagerDomain(a)),
        new("start_domain_on_core DOM CORE", 0, BindKind.None, static (r, a) => r.StartDomainOnCore(a)),
        new("create_domain DOM", 0, BindKind.Capability, static (r, a) => r.CreateDomain(a, io: false)),
        new("create_io_domain DOM", 0, BindKind.Capability, static (r, a) => r.CreateDomain(a, io: true)),
        new("get_domain_capa DOM CAPA", 0, BindKind.Domain, static (r, a) => r.GetDomainCapa(a)),
        new("revoke_domain DOM", 0, BindKind.None, static (r, a) => r.RevokeDomain(a)),

        // Regions.
        new("create_root_region DOM START END OPS", 0, BindKind.Capability, static (r, a) => r.CreateRootRegion(a)),
        new("alias DOM CAPA START END OPS [POLICY]", 1, BindKind.Capability, static (r, a) => r.Derive(a, carve: false)),
        new("carve DOM CAPA START END OPS [POLICY]", 1, BindKind.Capability, static (r, a) => r.Derive(a, carve: true)),
        new("create_revoke_capa DOM CAPA", 0, BindKind.Capability, static (r, a) => r.CreateRevokeCapa(a)),

        // Transfer and revocation.
        new("duplicate DOM CAPA", 0, BindKind.Capability, static (r, a) => r.Duplicate(a)),
        new("send DOM CAPA TO", 0, BindKind.Capability, static (r, a) => r.Send(a, withHash: false)),
        new("send_with_hash DOM CAPA TO BYTE", 0, BindKind.Capability, static (r, a) => r.Send(a, withHash: true)),
        new("revoke DOM CAPA", 0, BindKind.None, static (r, a) => r.Revoke(a)),
        new("share DOM CAPA START END OPS TO", 0, BindKind.CapabilityPair, static (r, a) => r.ShareOrGrant(a, grant: false)),
        new("grant DOM CAPA START END OPS TO", 0, BindKind.CapabilityPair, static (r, a) => r.ShareOrGrant(a, grant: true)),

        // Configuration.
        new("set_child_config DOM CAPA BITMAP VALUE", 0, BindKind.None, static (r, a) => r.SetChildConfig(a)),
        new("set_domain_config DOM BITMAP VALUE", 0, BindKind.None, static (r, a) => r.SetDomainConfig(a)),
        new("get_domain_config DOM BITMAP", 0, BindKind.None, static (r, a) => r.GetDomainConfig(a)),

        // Switching and traps.
        new("seal DOM CORE CAPA", 0, BindKind.Capability, static (r, a) => r.Seal(a)),
        new("create_switch DOM CORE", 0, BindKind.Capability, static (r, a) => r.CreateSwitch(a)),
        new("switch DOM CORE CAPA", 0, BindKind.None, static (r, a) => r.Switch(a)),
        new("handle_trap DOM CORE TRAP INFO", 0, BindKind.None, static (r, a) => r.HandleTrap(a)),
        new("handle_violation DOM CORE", 0, BindKind.None, static (r, a) => r.HandleViolation(a)),
        new("conditional_permission_update DOM", 0, BindKind.None, static (r, a) => r.ConditionalPermissionUpdate(a)),

        // Devices.
        new("create_root_device DOM DEVICE", 0, BindKind.Capability, static (r, a) => r.CreateRootDevice(a)),
        new("device_owner DEVICE", 0, BindKind.Domain, static (r, a) => r.DeviceOwner(a)),
        new("devices DOM", 0, BindKind.None, static (r, a) => r.Devices(a)),

        // Measurement.
        new("set_measurement DOM BYTE", 0, BindKind.None, static (r, a) => r.SetMeasurement(a)),
        new("measurement DOM", 0, BindKind.None, static (r, a) => r.Measurement(a)),

        // Inspection (reference formats).
        new("enumerate DOM", 0, BindKind.None, static (r, a) => r.Enumerate(a, EnumerateStyle.Indexed)),
        new("enumerate_raw DOM", 0, BindKind.None, static (r, a) => r.Enumerate(a, EnumerateStyle.Raw)),
        new("capas DOM", 0, BindKind.None, static (r, a) => r.Enumerate(a, EnumerateStyle.Plain)),
        new("regions DOM", 0, BindKind.None, static (r, a) => r.Regions(a)),
        new("tracker DOM", 0, BindKind.None, static (r, a) => r.Tracker(a)),
        new("effective DOM CAPA", 0, BindKind.None, static (r, a) => r.Effective(a)),
        new("updates", 0, BindKind.None, static (r, _) => r.Updates(upstream: false)),
        new("updates_upstream", 0, BindKind.None, static (r, _) => r.Updates(upstream: true)),
        new("domains", 0, BindKind.None, static (r, _) => r.Domains()),
        new("domain_info DOM", 0, BindKind.None, static (r, a) => r.DomainInfo(a)),
        new("capacity", 0, BindKind.None, static (r, _) => r.Capacity()),
        new("serialize", 0, BindKind.None, static (r, _) => r.Serialize()),
        new("check", 0, BindKind.None, static (r, _) => r.Check()),
        new("reset", 0, BindKind.None, static (r, _) => r.Reset()),
        new("reset_capacities DOMAINS CAPAS REGIONS TRACKER UPDATES [CORES] [DEVICES]", 2, BindKind.None, static (r, a) => r.ResetCapacities(a)),

        // Inspection (additions).
        new("capa_info DOM CAPA", 0, BindKind.None, static (r, a) => r.CapaInfo(a)),
        new("region_info DOM CAPA", 0, BindKind.None, static (r, a) => r.RegionInfo(a)),
        new("manager DOM", 0, BindKind.Domain, static (r, a) => r.Manager(a)),
        new("memory_map", 0, BindKind.None, static (r, _) => r.MemoryMap()),
        new("accessors ADDR", 0, BindKind.None, static (r, a) => r.Accessors(a)),
        new("core_domains CORE", 0, BindKind.None, static (r, a) => r.CoreDomains(a)),
        new("running CORE", 0, BindKind.Domain, static (r, a) => r.Running(a)),
        new("pending", 0, BindKind.None, static (r, _) => Outcome.Ok(Dec(r._engine.PendingUpdateCount))),
        new("drain", 0, BindKind.None, static (r, _) => r.Drain()),

        // Transactions.
        new("begin", 0, BindKind.None, static (r, _) => r.Begin()),
        new("commit", 0, BindKind.None, static (r, _) => r.Commit()),
        new("rollback", 0, BindKind.None, static (r, _) => r.Rollback()),
    ];

    private enum EnumerateStyle
    {
        Indexed,
        Raw,
        Plain,
    }

    // ---- Domain lifecycle -------------------------------------------------------------------------------------

    private Outcome CreateManagerDomain(Arguments a)
    {
        if (!a.Permissions(0, out ulong permissions))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryCreateManagerDomain((DomainPermissions)permissions, out DomainHandle domain);
        return error == CapabilityError.Ok ? Outcome.OkDomain(domain) : Outcome.Err(error);
    }

    private Outcome StartDomainOnCore(Arguments a) =>
        a.Domain(0, out DomainHandle domain) && a.Core(1, out int core)
            ? Outcome.From(_engine.TryStartDomainOnCore(domain, core))
            : a.Fail;

    private Outcome CreateDomain(Arguments a, bool io)
    {
        if (!a.Domain(0, out DomainHandle manager))
        {
            return a.Fail;
        }

        CapabilityError error = io
            ? _engine.TryCreateIoDomain(manager, out LocalCapability management)
            : _engine.TryCreateDomain(manager, out management);
        return Capability(error, management);
    }

    private Outcome GetDomainCapa(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability capability))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetDomainHandle(domain, capability, out DomainHandle target);
        return error == CapabilityError.Ok ? Outcome.OkDomain(target) : Outcome.Err(error);
    }

    private Outcome RevokeDomain(Arguments a) =>
        a.Domain(0, out DomainHandle domain) ? Outcome.From(_engine.TryRevokeDomain(domain)) : a.Fail;

    // ---- Regions ----------------------------------------------------------------------------------------------

    private Outcome CreateRootRegion(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Range(1, out ulong start, out ulong end) || !a.Operations(3, out MemoryOperations ops))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryCreateRootRegion(domain, new AccessRights(start, end, ops), out LocalCapability region);
        return Capability(error, region);
    }

    private Outcome Derive(Arguments a, bool carve)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability parent)
            || !a.Range(2, out ulong start, out ulong end) || !a.Operations(4, out MemoryOperations ops) || !a.Policy(5, out CleanupPolicy policy))
        {
            return a.Fail;
        }

        AccessRights access = new(start, end, ops);
        LocalCapability child;
        CapabilityError error = (carve, a.Has(5)) switch
        {
            (true, true) => _engine.TryCarve(domain, parent, access, policy, out child),
            (true, false) => _engine.TryCarve(domain, parent, access, out child),
            (false, true) => _engine.TryAlias(domain, parent, access, policy, out child),
            _ => _engine.TryAlias(domain, parent, access, out child),
        };
        return Capability(error, child);
    }

    private Outcome CreateRevokeCapa(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability capability))
        {
            return a.Fail;
        }

        return Capability(_engine.TryCreateRevokeCapability(domain, capability, out LocalCapability revoke), revoke);
    }

    // ---- Transfer and revocation ------------------------------------------------------------------------------

    private Outcome Duplicate(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability capability))
        {
            return a.Fail;
        }

        return Capability(_engine.TryDuplicate(domain, capability, out LocalCapability copy), copy);
    }

    private Outcome Send(Arguments a, bool withHash)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability capability) || !a.Capability(2, out LocalCapability to))
        {
            return a.Fail;
        }

        LocalCapability received;
        CapabilityError error;
        if (withHash)
        {
            if (!a.Byte(3, out byte fill))
            {
                return a.Fail;
            }

            RegionHash hash = RegionHash.Filled(fill);
            error = _engine.TrySendWithHash(domain, capability, to, hash, out received);
        }
        else
        {
            error = _engine.TrySend(domain, capability, to, out received);
        }

        return Capability(error, received);
    }

    private Outcome Revoke(Arguments a) =>
        a.Domain(0, out DomainHandle domain) && a.Capability(1, out LocalCapability capability)
            ? Outcome.From(_engine.TryRevoke(domain, capability))
            : a.Fail;

    private Outcome ShareOrGrant(Arguments a, bool grant)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability region)
            || !a.Range(2, out ulong start, out ulong end) || !a.Operations(4, out MemoryOperations ops) || !a.Capability(5, out LocalCapability to))
        {
            return a.Fail;
        }

        AccessRights access = new(start, end, ops);
        LocalCapability revoke;
        LocalCapability received;
        CapabilityError error = grant
            ? _engine.TryGrant(domain, region, access, to, out revoke, out received)
            : _engine.TryShare(domain, region, access, to, out revoke, out received);
        return error == CapabilityError.Ok ? Outcome.OkPair(revoke, received) : Outcome.Err(error);
    }

    // ---- Configuration ----------------------------------------------------------------------------------------

    private Outcome SetChildConfig(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle manager) || !a.Capability(1, out LocalCapability management)
            || !a.Bitmap(2, out ConfigurationBitmap bitmap) || !a.BitmapValue(3, bitmap, out ulong value))
        {
            return a.Fail;
        }

        return Outcome.From(_engine.TrySetChildConfiguration(manager, management, bitmap, value));
    }

    private Outcome SetDomainConfig(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Bitmap(1, out ConfigurationBitmap bitmap) || !a.BitmapValue(2, bitmap, out ulong value))
        {
            return a.Fail;
        }

        return Outcome.From(_engine.TrySetDomainConfiguration(domain, bitmap, value));
    }

    private Outcome GetDomainConfig(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Bitmap(1, out ConfigurationBitmap bitmap))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetDomainConfiguration(domain, bitmap, out ulong value);
        return error == CapabilityError.Ok ? Outcome.Ok(Hex(value)) : Outcome.Err(error);
    }

    // ---- Switching and traps ----------------------------------------------------------------------------------

    private Outcome Seal(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle manager) || !a.Core(1, out int core) || !a.Capability(2, out LocalCapability management))
        {
            return a.Fail;
        }

        return Capability(_engine.TrySeal(manager, core, management, out LocalCapability switchCapability), switchCapability);
    }

    private Outcome CreateSwitch(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Core(1, out int core))
        {
            return a.Fail;
        }

        return Capability(_engine.TryCreateSwitch(domain, core, out LocalCapability capability), capability);
    }

    private Outcome Switch(Arguments a) =>
        a.Domain(0, out DomainHandle domain) && a.Core(1, out int core) && a.Capability(2, out LocalCapability capability)
            ? Outcome.From(_engine.TrySwitch(domain, core, capability))
            : a.Fail;

    private Outcome HandleTrap(Arguments a) =>
        a.Domain(0, out DomainHandle domain) && a.Core(1, out int core) && a.Number(2, out ulong trap) && a.Number(3, out ulong info)
            ? Outcome.From(_engine.TryHandleTrap(domain, core, trap, info))
            : a.Fail;

    private Outcome HandleViolation(Arguments a) =>
        a.Domain(0, out DomainHandle domain) && a.Core(1, out int core)
            ? Outcome.From(_engine.TryHandleViolation(domain, core))
            : a.Fail;

    private Outcome ConditionalPermissionUpdate(Arguments a) =>
        a.Domain(0, out DomainHandle domain) ? Outcome.From(_engine.TryConditionalPermissionUpdate(domain)) : a.Fail;

    // ---- Devices ----------------------------------------------------------------------------------------------

    private Outcome CreateRootDevice(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Device(1, out DeviceId device))
        {
            return a.Fail;
        }

        return Capability(_engine.TryCreateRootDevice(domain, device, out LocalCapability capability), capability);
    }

    private Outcome DeviceOwner(Arguments a)
    {
        if (!a.Device(0, out DeviceId device))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetDeviceOwner(device, out DomainHandle owner);
        return error == CapabilityError.Ok ? Outcome.OkDomain(owner) : Outcome.Err(error);
    }

    private Outcome Devices(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        if (!_engine.IsLive(domain))
        {
            return Outcome.Err(CapabilityError.StaleDomain);
        }

        DeviceId[] devices = new DeviceId[Math.Max(_capacities.Devices, 1)];
        int count = _engine.GetDevices(domain, devices);
        return Outcome.Ok(Braces(devices.Take(Math.Max(count, 0)).Select(d => d.ToString())));
    }

    // ---- Measurement ------------------------------------------------------------------------------------------

    private Outcome SetMeasurement(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Byte(1, out byte fill))
        {
            return a.Fail;
        }

        RegionHash measurement = RegionHash.Filled(fill);
        return Outcome.From(_engine.TrySetMeasurement(domain, measurement));
    }

    private Outcome Measurement(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetMeasurement(domain, out RegionHash measurement, out bool isSet);
        return error != CapabilityError.Ok ? Outcome.Err(error) : Outcome.Ok(isSet ? measurement.ToString() : "unset");
    }

    // ---- Inspection -------------------------------------------------------------------------------------------

    private Outcome Enumerate(Arguments a, EnumerateStyle style)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        List<string> items = [];
        int token = 0;
        while (_engine.TryEnumerate(domain, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            switch (style)
            {
                case EnumerateStyle.Indexed:
                    items.Add(string.Concat(index.ToString(), ":", info.ToString()));
                    break;
                case EnumerateStyle.Raw:
                    info.Serialize(out ulong v1, out ulong v2, out ulong v3);
                    items.Add(string.Concat(index.ToString(), ":(", Hex(v1), ", ", Hex(v2), ", ", Hex(v3), ")"));
                    break;
                default:
                    items.Add(info.ToString());
                    break;
            }
        }

        return Outcome.Ok(Braces(items));
    }

    private Outcome Regions(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        MemoryPermission[] permissions = new MemoryPermission[Math.Max(_engine.GetPermissionCount(domain), 0)];
        CapabilityError error = _engine.TryGetPermissions(domain, permissions, out int written);
        return error != CapabilityError.Ok
            ? Outcome.Err(error)
            : Outcome.Ok(Braces(permissions.Take(written).Select(p => p.ToString()), " -> "));
    }

    private Outcome Tracker(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        TrackerSegment[] segments = new TrackerSegment[Math.Max(_engine.GetTrackerSegmentCount(domain), 0)];
        CapabilityError error = _engine.TryGetTrackerSegments(domain, segments, out int written);
        return error != CapabilityError.Ok
            ? Outcome.Err(error)
            : Outcome.Ok(Braces(segments.Take(written).Select(s => s.ToString()), " -> "));
    }

    private Outcome Effective(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability region))
        {
            return a.Fail;
        }

        // A region's effective pieces number at most its carved children plus one; grow until they fit.
        for (int size = 16; ; size *= 2)
        {
            AccessRights[] pieces = new AccessRights[size];
            CapabilityError error = _engine.TryGetEffectiveRegions(domain, region, pieces, out int written);
            if (error == CapabilityError.OutOfMemory && size <= _capacities.Regions)
            {
                continue;
            }

            return error != CapabilityError.Ok
                ? Outcome.Err(error)
                : Outcome.Ok(Braces(pieces.Take(written).Select(p => p.ToString())));
        }
    }

    private Outcome Updates(bool upstream)
    {
        List<string> items = [];
        while (_engine.TryPopUpdate(out Update update))
        {
            items.Add(upstream ? update.ToUpstreamString() : update.ToString());
        }

        return Outcome.Ok(Braces(items));
    }

    private Outcome Drain()
    {
        int count = 0;
        while (_engine.TryPopUpdate(out _))
        {
            count++;
        }

        return Outcome.Ok(Dec(count));
    }

    private Outcome Domains()
    {
        DomainHandle[] domains = new DomainHandle[_capacities.Domains];
        int count = _engine.GetDomains(domains);
        List<string> items = [];
        foreach (DomainHandle domain in domains.AsSpan(0, count))
        {
            string id = _engine.TryGetDomainInfo(domain, out DomainInfo info) == CapabilityError.Ok ? Dec((long)info.Id) : "?";
            items.Add(string.Concat(domain.ToString(), " id ", id));
        }

        return Outcome.Ok(Braces(items));
    }

    private Outcome DomainInfo(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetDomainInfo(domain, out DomainInfo info);
        if (error != CapabilityError.Ok)
        {
            return Outcome.Err(error);
        }

        return Outcome.Ok(string.Concat(
            "id ", Dec((long)info.Id),
            " sealed ", info.IsSealed ? "true" : "false",
            " io ", info.IsIo ? "true" : "false",
            " cores ", Hex(info.RunningCores),
            " core_map ", Hex(info.CoreMap),
            " perms ", Hex((ulong)info.Permissions),
            " traps ", Hex(info.Traps)));
    }

    private Outcome Capacity()
    {
        FreeCapacity free = _engine.GetFreeCapacity();
        return Outcome.Ok(string.Concat(
            "domains ", Dec(free.Domains), " regions ", Dec(free.Regions), " tracker ", Dec(free.TrackerNodes), " updates ", Dec(free.Updates)));
    }

    private Outcome Serialize()
    {
        byte[] buffer = new byte[Math.Max(_engine.GetAttestationLength(), 0)];
        CapabilityError error = _engine.TrySerializeAttestation(buffer, out int written);
        return error != CapabilityError.Ok
            ? Outcome.Err(error)
            : Outcome.Ok(string.Concat(Dec(written), " bytes ", Convert.ToHexStringLower(buffer, 0, written)));
    }

    private Outcome Check()
    {
        InvariantViolation[] violations = new InvariantViolation[64];
        int total = _engine.CheckInvariants(violations);
        if (total == 0)
        {
            return Outcome.Ok();
        }

        IEnumerable<string> shown = violations.Take(Math.Min(total, violations.Length)).Select(v => string.Concat(
            "I", Dec((int)v.Kind), " ", v.Kind.ToString(), " ", v.Domain.ToString(), " ", Hex(v.Start), " ", Hex(v.End)));
        return Outcome.ErrText(string.Concat("InvariantViolation ", Dec(total), " ", Braces(shown)));
    }

    private Outcome Reset()
    {
        ResetEngine();
        return Outcome.Ok();
    }

    private Outcome ResetCapacities(Arguments a)
    {
        int[] values = new int[7];
        int[] defaults = [0, 0, 0, 0, 0, EngineCapacities.Default.Cores, EngineCapacities.Default.Devices];
        for (int i = 0; i < values.Length; i++)
        {
            if (!a.Has(i))
            {
                values[i] = defaults[i];
                continue;
            }

            if (!a.Core(i, out values[i]))
            {
                return a.Fail;
            }

            if (values[i] > MaxScriptCapacity)
            {
                return Outcome.Usage(string.Concat("capacity '", a[i], "' is too large for a script (at most 65536)"));
            }
        }

        EngineCapacities capacities = new()
        {
            Domains = values[0],
            CapabilitiesPerDomain = values[1],
            Regions = values[2],
            TrackerNodes = values[3],
            PendingUpdates = values[4],
            Cores = values[5],
            Devices = values[6],
        };
        try
        {
            capacities.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            return Outcome.Usage(string.Concat("capacity ", e.ParamName, " is out of range (positive; at most 64 cores)"));
        }

        ResetEngine(capacities);
        return Outcome.Ok();
    }

    private Outcome CapaInfo(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability capability))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetCapabilityInfo(domain, capability, out CapabilityInfo info);
        return error == CapabilityError.Ok ? Outcome.Ok(info.ToString()) : Outcome.Err(error);
    }

    private Outcome RegionInfo(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain) || !a.Capability(1, out LocalCapability region))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetRegionInfo(domain, region, out AccessRights access, out CleanupPolicy cleanup,
            out RegionHash hash, out bool hasHash);
        if (error != CapabilityError.Ok)
        {
            return Outcome.Err(error);
        }

        return Outcome.Ok(string.Concat(
            "[", Hex(access.Start), ", ", Hex(access.End), "] ops ", FormatOperations(access.Operations),
            " cleanup ", FormatPolicy(cleanup), " hash ", hasHash ? hash.ToString() : "none"));
    }

    private Outcome Manager(Arguments a)
    {
        if (!a.Domain(0, out DomainHandle domain))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetDomainInfo(domain, out DomainInfo info);
        if (error != CapabilityError.Ok)
        {
            return Outcome.Err(error);
        }

        return info.Manager.IsInvalid ? Outcome.Ok("none") : Outcome.OkDomain(info.Manager);
    }

    private Outcome MemoryMap()
    {
        MemoryMapSegment[] segments = new MemoryMapSegment[Math.Max(_engine.GetMemoryMapLength(), 0)];
        CapabilityError error = _engine.TryGetMemoryMap(segments, out int written);
        if (error != CapabilityError.Ok)
        {
            return Outcome.Err(error);
        }

        List<string> items = new(written);
        foreach (MemoryMapSegment segment in segments.AsSpan(0, written))
        {
            StringBuilder text = new();
            text.Append('[').Append(Hex(segment.Start)).Append(", ").Append(Hex(segment.End))
                .Append(" | refs ").Append(Dec(segment.ReferenceCount));
            if (TryAccessors(segment.Start, out string? accessors, out _))
            {
                text.Append(": ").Append(accessors);
            }

            items.Add(text.Append(']').ToString());
        }

        return Outcome.Ok(Braces(items, " -> "));
    }

    private Outcome Accessors(Arguments a)
    {
        if (!a.Number(0, out ulong address))
        {
            return a.Fail;
        }

        return TryAccessors(address, out string? accessors, out CapabilityError error)
            ? Outcome.Ok(string.Concat("{", accessors, "}"))
            : Outcome.Err(error);
    }

    private bool TryAccessors(ulong address, out string? text, out CapabilityError error)
    {
        MemoryAccessor[] accessors = new MemoryAccessor[_capacities.Domains];
        error = _engine.TryGetAccessors(address, accessors, out int written);
        text = error == CapabilityError.Ok
            ? string.Join(", ", accessors.Take(written).Select(x => string.Concat(x.Domain.ToString(), " ", MemoryOperationsFormat.Rights(x.Operations))))
            : null;
        return error == CapabilityError.Ok;
    }

    private Outcome CoreDomains(Arguments a)
    {
        if (!a.Core(0, out int core))
        {
            return a.Fail;
        }

        if (core >= _capacities.Cores)
        {
            return Outcome.Err(CapabilityError.InvalidCore);
        }

        DomainHandle[] domains = new DomainHandle[_capacities.Domains];
        int count = _engine.GetDomainsAllowedOnCore(core, domains);
        return Outcome.Ok(Braces(domains.Take(Math.Max(count, 0)).Select(d => d.ToString())));
    }

    private Outcome Running(Arguments a)
    {
        if (!a.Core(0, out int core))
        {
            return a.Fail;
        }

        CapabilityError error = _engine.TryGetRunningDomain(core, out DomainHandle domain);
        return error == CapabilityError.Ok ? Outcome.OkDomain(domain) : Outcome.Err(error);
    }

    // ---- Transactions -----------------------------------------------------------------------------------------

    private Outcome Begin()
    {
        if (_engine.InTransaction)
        {
            return Outcome.Usage("a transaction is already open (commit or rollback it first)");
        }

        _engine.BeginTransaction();
        return Outcome.Ok();
    }

    private Outcome Commit()
    {
        if (!_engine.InTransaction)
        {
            return Outcome.Usage("no transaction is open (begin one first)");
        }

        _engine.CommitTransaction();
        return Outcome.Ok();
    }

    private Outcome Rollback()
    {
        if (!_engine.InTransaction)
        {
            return Outcome.Usage("no transaction is open (begin one first)");
        }

        _engine.RollbackTransaction();
        return Outcome.Ok();
    }

    private static Outcome Capability(CapabilityError error, LocalCapability capability) =>
        error == CapabilityError.Ok ? Outcome.OkCapability(capability) : Outcome.Err(error);
}
