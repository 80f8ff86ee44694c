// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.Abstractions;

/// <summary>What a backend's hardware can express. Admission refuses states outside these limits before the engine changes.</summary>
public sealed record HardwareLimits
{
    /// <summary>Implemented physical-address width in bits (MAXPHYADDR on x86, 56 or 34 on RISC-V).</summary>
    public required int PhysicalAddressBits { get; init; }

    /// <summary>Width of the addresses a domain sees (guest-physical on VT-x: 48 for a 4-level EPT).</summary>
    public required int GuestAddressBits { get; init; }

    /// <summary>The smallest protectable unit in bytes (4 096 for EPT; <c>2^(G+2)</c> for PMP). Range bounds must be multiples of it.</summary>
    public required ulong Granularity { get; init; }

    /// <summary>Maximum number of protection entries per domain (PMP entries available to domains), or 0 when unbounded (page tables).</summary>
    public int MaxEntriesPerDomain { get; init; }

    /// <summary>Whether a range may be executable without being readable (EPT execute-only, IA32_VMX_EPT_VPID_CAP bit 0).</summary>
    public bool ExecuteOnly { get; init; }

    /// <summary>Largest page size used, in bytes (4 KiB, 2 MiB or 1 GiB for EPT; 0 when not a paging backend).</summary>
    public ulong LargestPageSize { get; init; }
}
