// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>One effective permission range of a domain: a tracker node with a positive reference count (reference <c>MemoryPermission</c>).</summary>
/// <param name="Start">First byte.</param>
/// <param name="End">One past the last byte.</param>
/// <param name="Operations">The rights (R/W/X/S) whose counters are positive.</param>
public readonly record struct MemoryPermission(ulong Start, ulong End, MemoryOperations Operations)
{
    /// <summary>The reference display, e.g. <c>[0x0, 0x1000 | RWXS]</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[0x{Start:x}, 0x{End:x} | {MemoryOperationsFormat.Rights(Operations)}]");
}

/// <summary>One node of a domain's permission tracker: a disjoint range with its reference and per-right counters.</summary>
/// <param name="Start">First byte.</param>
/// <param name="End">One past the last byte.</param>
/// <param name="ReferenceCount">Number of region pieces of this domain covering the range.</param>
/// <param name="ReadCount">How many of them grant read.</param>
/// <param name="WriteCount">How many of them grant write.</param>
/// <param name="ExecuteCount">How many of them grant execute.</param>
/// <param name="SuperCount">How many of them grant supervisor access.</param>
public readonly record struct TrackerSegment(ulong Start, ulong End, int ReferenceCount, int ReadCount, int WriteCount, int ExecuteCount, int SuperCount)
{
    /// <summary>The effective rights: each right whose counter is positive.</summary>
    public MemoryOperations Operations =>
        (ReadCount > 0 ? MemoryOperations.Read : 0) | (WriteCount > 0 ? MemoryOperations.Write : 0)
        | (ExecuteCount > 0 ? MemoryOperations.Execute : 0) | (SuperCount > 0 ? MemoryOperations.Super : 0);

    /// <summary>The reference display, e.g. <c>[0x0, 0x1000 | 1 (1 - 1 - 1 - 1)]</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[0x{Start:x}, 0x{End:x} | {ReferenceCount} ({ReadCount} - {WriteCount} - {ExecuteCount} - {SuperCount})]");
}

/// <summary>
/// One piece of the system-wide memory map (HotOS paper, Figure 4): a maximal physical range over which the set of
/// domains with access, and their rights, is constant.
/// </summary>
/// <param name="Start">First byte.</param>
/// <param name="End">One past the last byte.</param>
/// <param name="ReferenceCount">Number of distinct live domains that can access the range ("exclusive" = 1).</param>
public readonly record struct MemoryMapSegment(ulong Start, ulong End, int ReferenceCount)
{
    /// <summary>The display <c>[0x0, 0x1000 | refs 2]</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[0x{Start:x}, 0x{End:x} | refs {ReferenceCount}]");
}

/// <summary>A domain that can access a memory-map segment, with its effective rights there.</summary>
/// <param name="Domain">The domain.</param>
/// <param name="Operations">Its rights over the whole segment.</param>
public readonly record struct MemoryAccessor(DomainHandle Domain, MemoryOperations Operations);
