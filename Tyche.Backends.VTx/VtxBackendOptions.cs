// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;

namespace Tyche.Backends.VTx;

/// <summary>A host-physical range <c>[Start, End)</c> to map with memory type UC (MMIO, device memory).</summary>
/// <param name="Start">First byte (4 KiB aligned).</param>
/// <param name="End">One past the last byte (4 KiB aligned).</param>
public readonly record struct UncacheableRange(ulong Start, ulong End);

/// <summary>
/// Hardware description and policy for <see cref="VtxBackend"/>. Defaults describe a typical server core: MAXPHYADDR 46, 2 MiB and
/// 1 GiB EPT pages, no execute-only, VT-d 4-level second-level tables with 2 MiB pages, 256 domain ids, no caching mode.
/// </summary>
public sealed class VtxBackendOptions
{
    /// <summary>MAXPHYADDR (CPUID.80000008H:EAX[7:0]); entry bits 51:N are reserved. 36–52. Default 46.</summary>
    public int PhysicalAddressBits { get; init; } = 46;

    /// <summary>Use 2 MiB EPT leaves (IA32_VMX_EPT_VPID_CAP bit 16). Default true.</summary>
    public bool Use2MiBPages { get; init; } = true;

    /// <summary>Use 1 GiB EPT leaves (IA32_VMX_EPT_VPID_CAP bit 17). Default true.</summary>
    public bool Use1GiBPages { get; init; } = true;

    /// <summary>
    /// Allow execute-only ranges (IA32_VMX_EPT_VPID_CAP bit 0). Default false: a range with X but not R is refused, because without the
    /// capability bits 2:0 = 100b are an EPT misconfiguration (SDM Vol. 3C §29.3.3.1).
    /// </summary>
    public bool ExecuteOnly { get; init; }

    /// <summary>
    /// Set EPTP bit 6 (accessed/dirty flags, IA32_VMX_EPT_VPID_CAP bit 21). Default false. When true the processor sets bits 8/9 of
    /// entries it uses, so table pages are no longer a pure function of engine state and merges of dirty leaves are skipped.
    /// </summary>
    public bool AccessedDirtyFlags { get; init; }

    /// <summary>Set ignore-PAT (bit 6) on write-back leaves too. Default false: the guest PAT combines with WB (SDM Vol. 3C §29.3.7.2).</summary>
    public bool IgnorePatForWriteBack { get; init; }

    /// <summary>Host ranges mapped UC with ignore-PAT (so the guest cannot make MMIO cacheable). Everything else is WB.</summary>
    public IReadOnlyList<UncacheableRange> UncacheableRanges { get; init; } = [];

    /// <summary>Use 2 MiB VT-d second-level pages (CAP.SLLPS bit 34). Default true.</summary>
    public bool SecondLevel2MiBPages { get; init; } = true;

    /// <summary>Use 1 GiB VT-d second-level pages (CAP.SLLPS bit 35). Default false.</summary>
    public bool SecondLevel1GiBPages { get; init; }

    /// <summary>Number of VT-d domain ids (CAP.ND: 2^(4 + 2·ND)); id 0 is never used. Default 256.</summary>
    public int VtdDomainIds { get; init; } = 256;

    /// <summary>VT-d caching mode (CAP.CM): not-present → present changes need invalidations too. Default false.</summary>
    public bool VtdCachingMode { get; init; }

    /// <summary>VT-d required write-buffer flushing (CAP.RWBF). Default false.</summary>
    public bool VtdWriteBufferFlush { get; init; }

    /// <summary>Maximum address-mask value for page-selective IOTLB invalidation (CAP.MAMV); 0 disables page-selective requests. Default 9 (2 MiB).</summary>
    public int VtdMaxAddressMask { get; init; } = 9;

    /// <summary>Remapping segments per domain (<see cref="GpaRemapper"/> capacity). Default 64.</summary>
    public int RemapSegmentsPerDomain { get; init; } = 64;

    internal void Validate()
    {
        if (PhysicalAddressBits is < 36 or > EptEntry.ArchitecturalAddressBits)
        {
            throw new ArgumentOutOfRangeException(nameof(PhysicalAddressBits), PhysicalAddressBits, "MAXPHYADDR must be between 36 and 52.");
        }

        if (VtdDomainIds is < 2 or > 65536)
        {
            throw new ArgumentOutOfRangeException(nameof(VtdDomainIds), VtdDomainIds, "Between 2 and 65536 domain ids.");
        }

        if (VtdMaxAddressMask is < 0 or > 63)
        {
            throw new ArgumentOutOfRangeException(nameof(VtdMaxAddressMask), VtdMaxAddressMask, "Between 0 and 63.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(RemapSegmentsPerDomain, 1);
        foreach (UncacheableRange r in UncacheableRanges)
        {
            if (r.End < r.Start || ((r.Start | r.End) & (PagingLevels.PageSize4K - 1)) != 0)
            {
                throw new ArgumentException("Uncacheable ranges must be 4 KiB aligned and well formed.", nameof(UncacheableRanges));
            }
        }
    }
}
