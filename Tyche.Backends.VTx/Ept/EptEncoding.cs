// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.VTx;

/// <summary>
/// Bit layout of EPT paging-structure entries (Intel SDM Vol. 3C §29.3.2 "EPT Translation Mechanism", Tables 29-1 to 29-6 —
/// §28.2.2 / Tables 28-x in editions before 2023). Every mask used by the backend and its tests is named here.
/// </summary>
public static class EptEntry
{
    /// <summary>Bit 0: read access (all EPT entry formats, SDM Vol. 3C Tables 29-1..29-6).</summary>
    public const ulong Read = 1UL << 0;

    /// <summary>Bit 1: write access.</summary>
    public const ulong Write = 1UL << 1;

    /// <summary>Bit 2: execute access (supervisor-mode execute when "mode-based execute control for EPT" is 1).</summary>
    public const ulong Execute = 1UL << 2;

    /// <summary>Bits 2:0. An entry whose bits 2:0 are all 0 is not present (SDM Vol. 3C §29.3.2).</summary>
    public const ulong PermissionMask = Read | Write | Execute;

    /// <summary>Position of the EPT memory type field, bits 5:3 of a leaf entry (SDM Vol. 3C §29.3.7 "EPT and Memory Typing").</summary>
    public const int MemoryTypeShift = 3;

    /// <summary>Bits 5:3: EPT memory type of a leaf entry.</summary>
    public const ulong MemoryTypeMask = 7UL << MemoryTypeShift;

    /// <summary>Bit 6: ignore PAT memory type (leaf entries only).</summary>
    public const ulong IgnorePat = 1UL << 6;

    /// <summary>Bit 7: in a PDPTE or PDE, the entry maps a 1 GiB or 2 MiB page instead of referencing a table.</summary>
    public const ulong LargePage = 1UL << 7;

    /// <summary>Bit 8: accessed flag (only written by the processor when EPTP bit 6 enables accessed/dirty flags).</summary>
    public const ulong Accessed = 1UL << 8;

    /// <summary>Bit 9: dirty flag of a leaf entry (same condition as <see cref="Accessed"/>).</summary>
    public const ulong Dirty = 1UL << 9;

    /// <summary>Bit 10: user-mode execute access, only used when "mode-based execute control for EPT" is 1 (this backend never sets it).</summary>
    public const ulong UserExecute = 1UL << 10;

    /// <summary>Bits 11:8 ignored by the processor in a non-leaf entry (A/D aside); bits 63:52 ignored except bit 63 (suppress #VE) in leaves.</summary>
    public const ulong SuppressVe = 1UL << 63;

    /// <summary>Lowest bit of the physical address field (bit 12).</summary>
    public const int AddressShift = 12;

    /// <summary>Highest bit (exclusive) of the architectural physical address field: bits 51:12.</summary>
    public const int ArchitecturalAddressBits = 52;

    /// <summary>Bits 51:12 of an entry hold the address; bits 51:N (N = MAXPHYADDR) are reserved and must be 0.</summary>
    /// <param name="physicalAddressBits">MAXPHYADDR (CPUID.80000008H:EAX[7:0]).</param>
    /// <returns>The mask of bits 12 to N − 1.</returns>
    public static ulong AddressMask(int physicalAddressBits) => ((1UL << physicalAddressBits) - 1) & ~((1UL << AddressShift) - 1);

    /// <summary>Bits 51:N reserved in every present entry (SDM Vol. 3C §29.3.3.1 "EPT Misconfigurations").</summary>
    /// <param name="physicalAddressBits">MAXPHYADDR.</param>
    /// <returns>The reserved high-address mask.</returns>
    public static ulong ReservedHighMask(int physicalAddressBits) =>
        ((1UL << ArchitecturalAddressBits) - 1) & ~((1UL << physicalAddressBits) - 1);

    /// <summary>Bits 29:12 of a 1 GiB PDPTE leaf: reserved, must be 0 (SDM Vol. 3C Table 29-2).</summary>
    public const ulong Reserved1GiBLeafMask = ((1UL << 30) - 1) & ~((1UL << AddressShift) - 1);

    /// <summary>Bits 20:12 of a 2 MiB PDE leaf: reserved, must be 0 (SDM Vol. 3C Table 29-4).</summary>
    public const ulong Reserved2MiBLeafMask = ((1UL << 21) - 1) & ~((1UL << AddressShift) - 1);

    /// <summary>Bits 7:3 of a PML4E (reserved; bit 7 must be 0 in a PML4E) — SDM Vol. 3C Table 29-1.</summary>
    public const ulong ReservedPml4Mask = 0x1FUL << 3;

    /// <summary>Bits 6:3 of a PDPTE or PDE that references a table (reserved, SDM Vol. 3C Tables 29-3 and 29-5).</summary>
    public const ulong ReservedNonLeafMask = 0xFUL << 3;
}

/// <summary>EPT memory types (SDM Vol. 3C §29.3.7; the encodings are those of the MTRR/PAT types, Vol. 3A §12.3 Table 12-2).</summary>
public enum EptMemoryType : byte
{
    /// <summary>UC, 0.</summary>
    Uncacheable = 0,

    /// <summary>WC, 1.</summary>
    WriteCombining = 1,

    /// <summary>WT, 4.</summary>
    WriteThrough = 4,

    /// <summary>WP, 5.</summary>
    WriteProtected = 5,

    /// <summary>WB, 6.</summary>
    WriteBack = 6,
}

/// <summary>The EPT pointer (VMCS field 0x201A) layout (SDM Vol. 3C §25.6.11 "Extended-Page-Table Pointer (EPTP)", Table 25-9).</summary>
public static class EptPointer
{
    /// <summary>Bits 2:0: memory type used to access the EPT paging structures (0 = UC or 6 = WB).</summary>
    public const ulong MemoryTypeMask = 7UL;

    /// <summary>Position of bits 5:3: EPT page-walk length minus 1.</summary>
    public const int WalkLengthShift = 3;

    /// <summary>Bits 5:3.</summary>
    public const ulong WalkLengthMask = 7UL << WalkLengthShift;

    /// <summary>A 4-level walk (PML4 → PDPT → PD → PT): page-walk length 4, encoded as 3.</summary>
    public const ulong FourLevelWalk = 3UL << WalkLengthShift;

    /// <summary>
    /// Bit 6: enable accessed and dirty flags for EPT (requires IA32_VMX_EPT_VPID_CAP bit 21). Off by default: with it on, the processor
    /// writes bits 8/9 of the entries, so table bytes stop being a pure function of the engine state.
    /// </summary>
    public const ulong AccessedDirtyEnable = 1UL << 6;

    /// <summary>Bit 7: enforcement of access rights for supervisor shadow-stack pages (not used).</summary>
    public const ulong SupervisorShadowStack = 1UL << 7;

    /// <summary>Bits 11:8 reserved, must be 0.</summary>
    public const ulong ReservedLowMask = 0xFUL << 8;

    /// <summary>Builds an EPTP.</summary>
    /// <param name="pml4">4 KiB-aligned physical address of the PML4 table.</param>
    /// <param name="accessedDirty">Whether to set <see cref="AccessedDirtyEnable"/>.</param>
    /// <returns><c>pml4 | WB | (4 − 1) &lt;&lt; 3 [| 1 &lt;&lt; 6]</c>.</returns>
    public static ulong Create(ulong pml4, bool accessedDirty) =>
        pml4 | (ulong)EptMemoryType.WriteBack | FourLevelWalk | (accessedDirty ? AccessedDirtyEnable : 0);
}

/// <summary>Sizes of the EPT / second-level translation levels (SDM Vol. 3C §29.3.2: 9 address bits per level above the 12-bit page offset).</summary>
public static class PagingLevels
{
    /// <summary>4 KiB.</summary>
    public const ulong PageSize4K = 1UL << 12;

    /// <summary>2 MiB (a PDE with bit 7 set).</summary>
    public const ulong PageSize2M = 1UL << 21;

    /// <summary>1 GiB (a PDPTE with bit 7 set).</summary>
    public const ulong PageSize1G = 1UL << 30;

    /// <summary>512 GiB: the span of one PML4 entry.</summary>
    public const ulong Pml4EntrySpan = 1UL << 39;

    /// <summary>Entries per table.</summary>
    public const int EntriesPerTable = 512;

    /// <summary>Bytes per entry.</summary>
    public const int EntrySize = 8;

    /// <summary>Address bits translated per level.</summary>
    public const int BitsPerLevel = 9;

    /// <summary>Levels of a 4-level walk.</summary>
    public const int FourLevels = 4;

    /// <summary>Guest-physical width covered by a 4-level walk: 48 bits.</summary>
    public const int FourLevelAddressBits = 48;

    /// <summary>The span of one entry at <paramref name="level"/> (1 = PT … 4 = PML4).</summary>
    /// <param name="level">The level.</param>
    /// <returns>The span in bytes.</returns>
    public static ulong EntrySpan(int level) => 1UL << (12 + (BitsPerLevel * (level - 1)));
}
