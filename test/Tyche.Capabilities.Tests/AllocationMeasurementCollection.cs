// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities.Tests;

/// <summary>
/// Tests that count allocated bytes with <see cref="System.GC.GetAllocatedBytesForCurrentThread"/> run alone: no other test
/// of this assembly runs while they measure, so a garbage collection or tier-up triggered by a concurrent test cannot
/// land inside a measured window. The assertions themselves stay exact (0 bytes).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurementCollection
{
    /// <summary>The collection name.</summary>
    public const string Name = "Allocation measurement";
}
