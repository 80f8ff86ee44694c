// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.VTx;

/// <summary>
/// Legacy-mode VT-d root and context entries (Intel VT-d Architecture Specification §9.1 "Root Entry", §9.3 "Context Entry";
/// also QEMU <c>hw/i386/intel_iommu_internal.h</c> <c>VTD_ROOT_ENTRY_*</c>/<c>VTD_CONTEXT_ENTRY_*</c>). Entries are 128 bits: a low and a high qword.
/// </summary>
public static class VtdEntry
{
    /// <summary>Size of a root or context entry: 16 bytes.</summary>
    public const int EntrySize = 16;

    /// <summary>Entries per root or context table: 256 (4 KiB).</summary>
    public const int EntriesPerTable = 256;

    /// <summary>Byte offset of the high qword inside a 128-bit entry.</summary>
    public const int HighQwordOffset = 8;

    /// <summary>Root entry low qword bit 0: present (§9.1).</summary>
    public const ulong RootPresent = 1UL << 0;

    /// <summary>Context entry low qword bit 0: present (§9.3).</summary>
    public const ulong ContextPresent = 1UL << 0;

    /// <summary>Context entry low qword bit 1: fault processing disable (left 0: faults are recorded).</summary>
    public const ulong ContextFaultProcessingDisable = 1UL << 1;

    /// <summary>Position of the translation type field, low qword bits 3:2.</summary>
    public const int TranslationTypeShift = 2;

    /// <summary>Low qword bits 3:2: translation type.</summary>
    public const ulong TranslationTypeMask = 3UL << TranslationTypeShift;

    /// <summary>Translation type 00b: untranslated requests are translated through the second-level table (no device-IOTLB).</summary>
    public const ulong TranslationTypeUntranslated = 0UL << TranslationTypeShift;

    /// <summary>Translation type 10b: pass-through (never used by this backend).</summary>
    public const ulong TranslationTypePassThrough = 2UL << TranslationTypeShift;

    /// <summary>Low qword bits 63:12 (HAW-limited): root entry context-table pointer / context entry SLPTPTR.</summary>
    public const ulong PointerMask = ~0xFFFUL;

    /// <summary>Context entry high qword bits 2:0: address width (§9.3).</summary>
    public const ulong AddressWidthMask = 7UL;

    /// <summary>AW = 010b: 48-bit AGAW, 4-level second-level table.</summary>
    public const ulong AddressWidth48Bit4Level = 2UL;

    /// <summary>Position of the domain identifier, high qword bits 23:8.</summary>
    public const int DomainIdShift = 8;

    /// <summary>High qword bits 23:8: domain identifier.</summary>
    public const ulong DomainIdMask = 0xFFFFUL << DomainIdShift;
}

/// <summary>Second-level paging entries (VT-d specification §9.8 "Second-Level Paging Entries"; Linux <c>DMA_PTE_*</c>).</summary>
public static class SecondLevelEntry
{
    /// <summary>Bit 0: read. An entry with R = W = 0 is not present.</summary>
    public const ulong Read = 1UL << 0;

    /// <summary>Bit 1: write.</summary>
    public const ulong Write = 1UL << 1;

    /// <summary>Bits 1:0.</summary>
    public const ulong PermissionMask = Read | Write;

    /// <summary>Bit 2: execute, only meaningful for requests-with-PASID when ECAP.SLEE = 1; reserved/ignored here and never set.</summary>
    public const ulong Execute = 1UL << 2;

    /// <summary>Bit 7: page size (2 MiB at a PDE, 1 GiB at a PDPTE; 1 GiB needs CAP.SLLPS bit 35, 2 MiB bit 34).</summary>
    public const ulong PageSize = 1UL << 7;

    /// <summary>Bit 11: snoop behaviour (not used).</summary>
    public const ulong Snoop = 1UL << 11;
}
