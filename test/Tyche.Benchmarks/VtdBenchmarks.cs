// SPDX-License-Identifier: Apache-2.0
using System;
using BenchmarkDotNet.Attributes;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx;
using Tyche.Backends.VTx.Tests;
using Tyche.Capabilities;

namespace Tyche.Benchmarks;

/// <summary>VT-d hot path: a device moving between two domains of 100 ranges each (context entry re-pointed, invalidations, second-level tables built and freed).</summary>
[MemoryDiagnoser]
public class VtdBenchmarks
{
    private static readonly DomainHandle D1 = new(1, 0);
    private static readonly DomainHandle D2 = new(2, 0);
    private static readonly DeviceId Gpu = new(0, 0, 2, 0);
    private readonly MonitorActionList _actions = new(1024);
    private readonly Update[] _toD1 = [new(UpdateKind.DeviceUpdate, D1, device: Gpu)];
    private readonly Update[] _toD2 = [new(UpdateKind.DeviceUpdate, D2, device: Gpu)];
    private ListEngineView _view = null!;
    private VtxBackend _backend = null!;

    [GlobalSetup]
    public void Setup()
    {
        var memory = new PhysicalMemory(0x40_0000_0000, 4096, 0, 4096);
        _backend = new VtxBackend(memory, memory);
        _view = new ListEngineView();
        foreach (DomainHandle d in new[] { D1, D2 })
        {
            var p = new MemoryPermission[100];
            for (int i = 0; i < p.Length; i++)
            {
                ulong start = ((ulong)d.Index << 32) + ((ulong)i * 0x40_0000);
                p[i] = new MemoryPermission(start, start + 0x21_0000, MemoryOperations.Read | MemoryOperations.Write);
            }

            _view.Domains[d] = p;
            Run([new(UpdateKind.CreateDomain, d), new(UpdateKind.PermissionUpdate, d, coreMap: 0)]);
        }

        Run(_toD1);
        Console.WriteLine($"// device move: {_actions.Count} actions, {_actions.CountOf(MonitorActionKind.WriteTablePage)} pages written");
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

    /// <summary>Move the device to the other domain and back.</summary>
    [Benchmark]
    public int MoveDeviceBackAndForth()
    {
        Run(_toD2);
        int n = _actions.Count;
        Run(_toD1);
        return n + _actions.Count;
    }
}
