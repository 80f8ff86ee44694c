// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;

namespace Tyche.Attestation.Reports;

/// <summary>
/// Builds domain and composition reports by reading the engine (never mutating it): domain info, the domain's
/// effective permissions split along the system-wide memory map (so each range has one reference count and one set
/// of sharing partners, from <see cref="CapabilityEngine.TryGetAccessors"/>), cores with exclusivity from
/// <see cref="CapabilityEngine.GetDomainsAllowedOnCore"/>, devices, and the stored or freshly computed measurement.
/// </summary>
public sealed class ReportBuilder
{
    private readonly CapabilityEngine _engine;
    private readonly IPhysicalMemoryReader? _memory;

    /// <summary>Creates a builder.</summary>
    /// <param name="engine">The engine to read.</param>
    /// <param name="memory">Memory contents, to measure domains that have no stored measurement (optional).</param>
    public ReportBuilder(CapabilityEngine engine, IPhysicalMemoryReader? memory = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _memory = memory;
    }

    /// <summary>Builds a report for one domain.</summary>
    public CapabilityError TryBuildDomainReport(DomainHandle domain, ReadOnlySpan<byte> nonce, MonitorIdentity monitor, out AttestationReport? report) =>
        TryBuild(ReportKind.Domain, [domain], nonce, monitor, out report);

    /// <summary>Builds a composition report for a set of domains (duplicates are rejected with <see cref="CapabilityError.InvalidValue"/>).</summary>
    public CapabilityError TryBuildCompositionReport(ReadOnlySpan<DomainHandle> domains, ReadOnlySpan<byte> nonce, MonitorIdentity monitor, out AttestationReport? report) =>
        TryBuild(ReportKind.Composition, domains.ToArray(), nonce, monitor, out report);

    private CapabilityError TryBuild(ReportKind kind, DomainHandle[] handles, ReadOnlySpan<byte> nonce, MonitorIdentity monitor, out AttestationReport? report)
    {
        ArgumentNullException.ThrowIfNull(monitor);
        report = null;
        if (handles.Length == 0 || nonce.Length is 0 or > 64) return CapabilityError.InvalidValue;
        var domains = new List<ReportedDomain>(handles.Length);
        foreach (DomainHandle h in handles)
        {
            CapabilityError e = TryDescribe(h, out ReportedDomain? d);
            if (e != CapabilityError.Ok) return e;
            domains.Add(d!);
        }

        domains.Sort((a, b) => a.Id.CompareTo(b.Id));
        for (int i = 1; i < domains.Count; i++)
        {
            if (domains[i].Id == domains[i - 1].Id) return CapabilityError.InvalidValue;
        }

        report = new AttestationReport { Kind = kind, Nonce = nonce.ToArray(), Monitor = monitor, Domains = domains.ToArray() };
        return CapabilityError.Ok;
    }

    private CapabilityError TryDescribe(DomainHandle handle, out ReportedDomain? domain)
    {
        domain = null;
        CapabilityError e = _engine.TryGetDomainInfo(handle, out DomainInfo info);
        if (e != CapabilityError.Ok) return e;

        byte[]? measurement = null;
        e = _engine.TryGetMeasurement(handle, out RegionHash stored, out bool isSet);
        if (e != CapabilityError.Ok) return e;
        if (isSet)
        {
            measurement = stored.Bytes.ToArray();
        }
        else if (_memory is not null)
        {
            e = DomainMeasurement.TryMeasure(_engine, handle, _memory, out RegionHash computed);
            if (e != CapabilityError.Ok) return e;
            measurement = computed.Bytes.ToArray();
        }

        var permissions = new MemoryPermission[_engine.GetPermissionCount(handle)];
        e = _engine.TryGetPermissions(handle, permissions, out int permissionCount);
        if (e != CapabilityError.Ok) return e;
        var map = new MemoryMapSegment[_engine.GetMemoryMapLength()];
        e = _engine.TryGetMemoryMap(map, out int mapCount);
        if (e != CapabilityError.Ok) return e;

        var accessors = new MemoryAccessor[_engine.Capacities.Domains];
        var ranges = new List<ReportedRange>();
        int segment = 0;
        for (int i = 0; i < permissionCount; i++)
        {
            MemoryPermission p = permissions[i];
            while (segment < mapCount && map[segment].End <= p.Start) segment++;
            for (int s = segment; s < mapCount && map[s].Start < p.End; s++)
            {
                ulong start = Math.Max(p.Start, map[s].Start);
                ulong end = Math.Min(p.End, map[s].End);
                if (end <= start) continue;
                e = _engine.TryGetAccessors(start, accessors, out int n);
                if (e != CapabilityError.Ok) return e;
                var partners = new List<ulong>(n);
                for (int a = 0; a < n; a++)
                {
                    if (accessors[a].Domain == handle) continue;
                    if (_engine.TryGetDomainInfo(accessors[a].Domain, out DomainInfo other) == CapabilityError.Ok) partners.Add(other.Id);
                }

                partners.Sort();
                ranges.Add(new ReportedRange(start, end, p.Operations & MemoryOperations.Rights, partners.Count + 1, partners.ToArray()));
            }
        }

        var cores = new List<ReportedCore>();
        var allowed = new DomainHandle[_engine.Capacities.Domains];
        for (int c = 0; c < 64; c++)
        {
            if ((info.CoreMap & (1ul << c)) == 0) continue;
            int n = _engine.GetDomainsAllowedOnCore(c, allowed);
            cores.Add(new ReportedCore(c, n == 1 && allowed[0] == handle));
        }

        var devices = new DeviceId[_engine.Capacities.Devices];
        int deviceCount = _engine.GetDevices(handle, devices);
        DeviceId[] owned = devices[..deviceCount];
        Array.Sort(owned);

        domain = new ReportedDomain
        {
            Id = info.Id, Sealed = info.IsSealed, IsIo = info.IsIo, Measurement = measurement, Permissions = info.Permissions,
            Traps = info.Traps, CoreMap = info.CoreMap, Memory = ranges.ToArray(), Cores = cores.ToArray(), Devices = owned,
        };
        return CapabilityError.Ok;
    }
}
