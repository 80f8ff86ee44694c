// SPDX-License-Identifier: Apache-2.0
using System;
using BenchmarkDotNet.Attributes;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx;
using Tyche.Backends.VTx.Tests;
using Tyche.Capabilities;

namespace Tyche.Benchmarks;

/// <summary>
/// EPT hot paths. Targets (issue 3): one changed range in a domain of 1,000 ranges ≤ 5 µs and ≤ 4 table pages written; identity-mapping
/// 64 GiB with 1 GiB pages touches ≤ 2 table pages; 0 B managed allocation per update once warm. Page counts are printed by the setup.
/// </summary>
[MemoryDiagnoser]
public class EptBenchmarks
{
    private static readonly DomainHandle D1 = new(1, 0);
    private static readonly DomainHandle D2 = new(2, 0);
    private readonly MonitorActionList _actions = new(1024);
    private readonly Update[] _permission = [new(UpdateKind.PermissionUpdate, D1, coreMap: 1)];
    private readonly Update[] _create64 = [new(UpdateKind.CreateDomain, D2), new(UpdateKind.PermissionUpdate, D2, coreMap: 1)];
    private readonly Update[] _revoke64 = [new(UpdateKind.RevokeDomain, D2)];
    private ListEngineView _view = null!;
    private VtxBackend _backend = null!;
    private MemoryPermission[] _base = null!;
    private MemoryPermission[] _changed = null!;
    private MemoryPermission[] _identity64 = null!;
    private bool _flip;
    private readonly MemoryPermission[] _scratch = new MemoryPermission[1000];

    // Engine path: share one page to a child and revoke it, through the Monitor facade.
    private Monitor _monitor = null!;
    private DomainHandle _d0;
    private LocalCapability _root;
    private LocalCapability _child;

    [GlobalSetup]
    public void Setup()
    {
        var memory = new PhysicalMemory(0x40_0000_0000, 4096, 0, 4096);
        _backend = new VtxBackend(memory, memory);
        _view = new ListEngineView();
        _base = new MemoryPermission[1000];
        for (int i = 0; i < _base.Length; i++)
        {
            ulong start = (ulong)i * 0x10000;
            _base[i] = new MemoryPermission(start, start + 0x4000, (i & 1) == 0 ? MemoryOperations.Read | MemoryOperations.Write : MemoryOperations.Read);
        }

        _changed = (MemoryPermission[])_base.Clone();
        _changed[500] = _changed[500] with { Operations = MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute };
        _identity64 = [new MemoryPermission(0, 64UL << 30, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute)];
        _view.Domains[D1] = _base;
        Run([new(UpdateKind.CreateDomain, D1), new(UpdateKind.PermissionUpdate, D1, coreMap: 1)]);
        _view.Domains[D1] = _changed;
        Run(_permission);
        Console.WriteLine($"// one changed range in 1,000 (grow): {_actions.CountOf(MonitorActionKind.WriteTablePage)} table pages written, {_actions.CountOf(MonitorActionKind.Invept)} INVEPT");
        _view.Domains[D1] = _base;
        Run(_permission);
        Console.WriteLine($"// one changed range in 1,000 (reduce): {_actions.CountOf(MonitorActionKind.WriteTablePage)} table pages written, {_actions.CountOf(MonitorActionKind.Invept)} INVEPT");
        _view.Domains[D2] = _identity64;
        Run(_create64);
        Console.WriteLine($"// identity 64 GiB: {_actions.CountOf(MonitorActionKind.WriteTablePage)} table pages written");
        _view.Domains.Remove(D2);
        Run(_revoke64);

        var engine = new CapabilityEngine();
        var engineMemory = new PhysicalMemory(0x40_0000_0000, 1024, 0, 1024);
        _monitor = new Monitor(engine, [new VtxBackend(engineMemory, engineMemory)], engineMemory);
        Check(_monitor.TryCreateManagerDomain(DomainPermissions.All, out _d0));
        Check(_monitor.TryStartDomainOnCore(_d0, 0));
        Check(_monitor.TryCreateRootRegion(_d0, new AccessRights(0, 1UL << 30, MemoryOperations.All), out _root));
        Check(_monitor.TryCreateDomain(_d0, out _child));
    }

    private static void Check(CapabilityError e)
    {
        if (e != CapabilityError.Ok)
        {
            throw new InvalidOperationException(e.ToString());
        }
    }

    private void Run(Update[] updates)
    {
        _actions.Clear();
        if (!_backend.TryAdmit(_view, updates, out BackendRefusal r) || !_backend.TryApply(_view, updates, _actions, out r))
        {
            throw new InvalidOperationException(r.ToString());
        }

        _backend.Commit();
    }

    /// <summary>
    /// Machine baseline: copy 1,000 permission ranges and sum their sizes (what any consumer of <c>TryGetPermissions</c> pays at least).
    /// On a loaded host, compare the other rows to this one rather than to absolute targets.
    /// </summary>
    [Benchmark(Baseline = true)]
    public ulong Baseline_Copy1000Permissions()
    {
        _base.AsSpan().CopyTo(_scratch);
        ulong sum = 0;
        foreach (ref readonly MemoryPermission p in _scratch.AsSpan())
        {
            sum += p.End - p.Start;
        }

        return sum;
    }

    /// <summary>Admit + apply + commit of a permission update that changes one range of a 1,000-range domain (alternately grow and reduce).</summary>
    [Benchmark]
    public int OneRangeChangedIn1000()
    {
        _flip = !_flip;
        _view.Domains[D1] = _flip ? _changed : _base;
        Run(_permission);
        return _actions.Count;
    }

    /// <summary>Create a domain identity-mapping 64 GiB with 1 GiB pages, then revoke it.</summary>
    [Benchmark]
    public int Identity64GiBCreateAndRevoke()
    {
        _view.Domains[D2] = _identity64;
        Run(_create64);
        int pages = _actions.CountOf(MonitorActionKind.WriteTablePage);
        _view.Domains.Remove(D2);
        Run(_revoke64);
        return pages;
    }

    /// <summary>Engine + backend through the Monitor: share a 4 KiB page to a child, then revoke it.</summary>
    [Benchmark]
    public int MonitorShareAndRevokePage()
    {
        Check(_monitor.TryShare(_d0, _root, new AccessRights(0x20_1000, 0x20_2000, MemoryOperations.Read), _child, out LocalCapability revoke, out _));
        Check(_monitor.TryRevoke(_d0, revoke));
        return _monitor.Actions.Count;
    }
}
