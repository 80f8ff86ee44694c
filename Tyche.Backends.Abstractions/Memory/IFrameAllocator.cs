// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.Abstractions;

/// <summary>
/// Supplies 4 KiB physical frames for page-table pages. A real monitor points it at memory it reserved for itself; tests and samples
/// use <see cref="PhysicalMemory"/>.
/// </summary>
public interface IFrameAllocator
{
    /// <summary>Number of frames that can still be allocated.</summary>
    int FreeFrameCount { get; }

    /// <summary>Allocates one frame. The frame's 4 096 bytes are zero when it is returned.</summary>
    /// <param name="physicalAddress">The 4 KiB-aligned physical address of the frame.</param>
    /// <returns><see langword="false"/> when the allocator has run dry (nothing is changed then).</returns>
    bool TryAllocate(out ulong physicalAddress);

    /// <summary>Returns a frame obtained from <see cref="TryAllocate"/>. The caller has finished every invalidation that could still reach it.</summary>
    /// <param name="physicalAddress">The frame's address.</param>
    void Free(ulong physicalAddress);
}

/// <summary>Reads and writes 64-bit table entries in physical memory (little-endian, as the hardware walker reads them).</summary>
public interface ITableMemory
{
    /// <summary>Reads the 8-byte entry at <paramref name="physicalAddress"/> (8-byte aligned).</summary>
    /// <param name="physicalAddress">The entry's physical address.</param>
    /// <returns>The entry value.</returns>
    ulong ReadEntry(ulong physicalAddress);

    /// <summary>Writes the 8-byte entry at <paramref name="physicalAddress"/> (8-byte aligned) in one store.</summary>
    /// <param name="physicalAddress">The entry's physical address.</param>
    /// <param name="value">The entry value.</param>
    void WriteEntry(ulong physicalAddress, ulong value);
}

/// <summary>Executes cleanup policies on physical memory.</summary>
public interface IMemoryCleaner
{
    /// <summary>Cleans <c>[start, end)</c> according to <paramref name="policy"/>.</summary>
    /// <param name="start">First byte.</param>
    /// <param name="end">One past the last byte.</param>
    /// <param name="policy">Zero, flush, or both.</param>
    void Clean(ulong start, ulong end, Tyche.Capabilities.CleanupPolicy policy);
}
