// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Attestation.Reports;
using Tyche.Backends.Abstractions;

namespace ConfidentialSaas;

/// <summary>Lets the attestation layer read the in-memory physical memory (for measurements of HASH-flagged regions).</summary>
internal sealed class PlatformMemoryReader(PhysicalMemory memory) : IPhysicalMemoryReader
{
    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (address < memory.BaseAddress || address - memory.BaseAddress > memory.Size
            || (ulong)destination.Length > memory.Size - (address - memory.BaseAddress))
        {
            return false;
        }

        memory.Bytes.Slice(checked((int)(address - memory.BaseAddress)), destination.Length).CopyTo(destination);
        return true;
    }
}
