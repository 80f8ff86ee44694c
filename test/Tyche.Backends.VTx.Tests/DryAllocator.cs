// SPDX-License-Identifier: Apache-2.0
using Tyche.Backends.Abstractions;

namespace Tyche.Backends.VTx.Tests;

/// <summary>A frame allocator that runs dry after <see cref="Budget"/> more allocations (a fault injector over a real allocator).</summary>
internal sealed class DryAllocator(IFrameAllocator inner) : IFrameAllocator
{
    public int Budget { get; set; } = int.MaxValue;

    public int FreeFrameCount => System.Math.Min(Budget, inner.FreeFrameCount);

    public bool TryAllocate(out ulong physicalAddress)
    {
        if (Budget <= 0)
        {
            physicalAddress = 0;
            return false;
        }

        if (!inner.TryAllocate(out physicalAddress))
        {
            return false;
        }

        Budget--;
        return true;
    }

    public void Free(ulong physicalAddress) => inner.Free(physicalAddress);
}
