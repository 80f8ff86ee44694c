// SPDX-License-Identifier: Apache-2.0
using System;
using Xunit.Abstractions;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// SPEC §1 "Allocation-free": after construction no operation allocates managed memory, on success or on error.
/// Measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/> around a batch; nothing inside the measured region
/// allocates on the test side (no assertions, lambdas or boxing there).
/// </summary>
[Collection(AllocationMeasurementCollection.Name)]
public sealed class AllocationTests(ITestOutputHelper output)
{
    /// <summary>
    /// Identical measured batches, at most this many: the smallest count must be exactly 0. Every batch runs the same
    /// operations on the same steady state, so an allocating engine path allocates in every one of them; a single
    /// non-zero batch on a loaded machine is the runtime promoting a method to tier 1 / OSR while the batch runs
    /// (which can charge a few KB to the measuring thread, see dotnet/BenchmarkDotNet#1542), not the engine.
    /// </summary>
    internal const int MeasuredBatches = 5;

    [Fact]
    public void Ten_thousand_mixed_operations_allocate_zero_bytes()
    {
        var batch = new MixedBatch();
        FreeCapacity initial = batch.Engine.GetFreeCapacity();
        batch.RunOperations(5_000); // warm-up: JIT, tiering, first-use paths
        long operations = 0, allocated = long.MaxValue;
        var perBatch = new long[MeasuredBatches];
        int measured = 0;
        for (int attempt = 0; attempt < MeasuredBatches && allocated != 0; attempt++, measured++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            operations = batch.RunOperations(10_000);
            perBatch[attempt] = GC.GetAllocatedBytesForCurrentThread() - before;
            allocated = Math.Min(allocated, perBatch[attempt]);
        }

        output.WriteLine($"{operations} engine calls per batch, bytes allocated in each measured batch: {string.Join(", ", perBatch[..measured])}");
        Assert.Equal(0, batch.Unexpected);
        Assert.True(operations >= 10_000);
        Assert.Equal(0L, allocated);
        // The batch is a steady state: no pool leaked across thousands of rounds.
        Assert.Equal(initial, batch.Engine.GetFreeCapacity());
        Check.NoViolations(batch.Engine);
    }

    [Fact]
    public void Error_paths_at_pool_exhaustion_allocate_zero_bytes()
    {
        var b = new Booted(new EngineCapacities { Domains = 2, CapabilitiesPerDomain = 4, Regions = 3, PendingUpdates = 2, TrackerNodes = 1 });
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child, traps: 1);
        b.FillTable(b.D0, b.R0);
        b.FillQueue(child);
        var map = new MemoryMapSegment[1];
        var updates = new Update[1];
        Span<InvariantViolation> violations = stackalloc InvariantViolation[2];
        var access = new AccessRights(0x100, 0x200, MemoryOperations.Read);
        int unexpected = 0;
        for (int i = 0; i < 100; i++)
        {
            unexpected += Round(e, b, m, child, access, map, violations);
        }

        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < MeasuredBatches && allocated != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1_000; i++)
            {
                unexpected += Round(e, b, m, child, access, map, violations);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, unexpected);
        Assert.Equal(0L, allocated);
        Assert.Equal(1, e.DrainUpdates(updates));
    }

    private static int Round(CapabilityEngine e, Booted b, LocalCapability m, DomainHandle child, in AccessRights access,
        MemoryMapSegment[] map, Span<InvariantViolation> violations)
    {
        int bad = 0;
        bad += e.TryCreateDomain(b.D0, out _) == CapabilityError.OutOfMemory ? 0 : 1;                   // domain pool
        bad += e.TryCreateRevokeCapability(b.D0, b.R0, out _) == CapabilityError.OutOfMemory ? 0 : 1;   // table (after GC)
        bad += e.TryCreateRootRegion(child, access, out _) == CapabilityError.OutOfMemory ? 0 : 1;      // tracker nodes
        bad += e.TryHandleTrap(child, 0, 1, 0) == CapabilityError.UpdateQueueFull ? 0 : 1;              // queue
        bad += e.TryGetMemoryMap(map.AsSpan(0, 0), out _) == CapabilityError.OutOfMemory ? 0 : 1;     // short span
        bad += e.TrySend(child, 0, m, out _) == CapabilityError.CapabilityDoesNotExist ? 0 : 1;
        bad += e.TryAlias(b.D0, b.R0, new AccessRights(0x200, 0x100, MemoryOperations.Read), out _) == CapabilityError.OutOfMemory ? 0 : 1; // owner table full, checked before the range
        bad += e.CheckInvariants(violations) == 0 ? 0 : 1;
        return bad;
    }
}
