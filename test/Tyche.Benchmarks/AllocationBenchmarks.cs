// SPDX-License-Identifier: Apache-2.0
using System;
using BenchmarkDotNet.Attributes;
using Tyche.Capabilities.Tests.Verification;

namespace Tyche.Benchmarks;

/// <summary>
/// Proves the capability engine's steady state allocates nothing (SPEC §1 "Allocation-free"): one round of
/// <see cref="MixedBatch"/> is ~70 engine calls — alias, carve, send, send-with-hash, share, grant, duplicate, eleven error
/// paths, switch / trap / violation, memory map, permissions, tracker, accessors, effective regions, attestation
/// serialization, invariant check, enumeration, five revocations (one with a Cleanup cascade) and update draining.
/// The MemoryDiagnoser's "Allocated" column must read 0 B (or "-").
/// </summary>
[MemoryDiagnoser]
public class AllocationBenchmarks
{
    private MixedBatch _batch = null!;
    private long _callsPerRound;

    /// <summary>Builds the engine and warms the batch up.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _batch = new MixedBatch();
        _batch.RunOperations(2_000);
        long before = _batch.Operations;
        _batch.Round();
        _callsPerRound = _batch.Operations - before;
        Console.WriteLine($"// engine calls per round: {_callsPerRound}");
    }

    /// <summary>One mixed round of engine calls.</summary>
    [Benchmark(Description = "Capability engine: one mixed round (~70 calls)")]
    public long MixedRound()
    {
        _batch.Round();
        return _batch.Operations;
    }

    /// <summary>Fails the run if any call in any round had an unexpected outcome.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        if (_batch.Unexpected != 0)
        {
            throw new InvalidOperationException($"{_batch.Unexpected} engine calls had an unexpected outcome");
        }
    }
}
