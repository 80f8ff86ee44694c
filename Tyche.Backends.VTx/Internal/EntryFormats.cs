// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.VTx.Internal;

/// <summary>How one kind of 4-level table encodes entries (EPT or VT-d second-level).</summary>
internal interface IEntryFormat
{
    /// <summary>Bits whose all-zero value means "not present".</summary>
    ulong PresentMask { get; }

    /// <summary>Leaf bits that must be equal for two leaves to merge (rights, memory type, ignore-PAT).</summary>
    ulong AttributeMask { get; }

    /// <summary>Bits 51:12 limited to the implemented width.</summary>
    ulong AddressMask { get; }

    /// <summary>A non-leaf entry referencing <paramref name="table"/>.</summary>
    ulong NonLeaf(ulong table);

    /// <summary>Whether a leaf may be placed at <paramref name="level"/> (1 always; 2 and 3 if large pages are enabled).</summary>
    bool LeafAllowed(int level);

    /// <summary>
    /// Whether replacing <paramref name="old"/> by <paramref name="value"/> requires invalidating cached translations: the old entry was
    /// present and the new one removes a right, changes the address, the page size or the memory type (Intel SDM Vol. 3C §29.4.3.4).
    /// </summary>
    bool NeedsInvalidation(ulong old, ulong value);
}

/// <summary>EPT entries (Intel SDM Vol. 3C §29.3.2).</summary>
internal readonly struct EptFormat : IEntryFormat
{
    private const ulong LeafTypeMask = EptEntry.MemoryTypeMask | EptEntry.IgnorePat;
    private readonly bool _allow2M;
    private readonly bool _allow1G;

    public EptFormat(int physicalAddressBits, bool allow2M, bool allow1G)
    {
        AddressMask = EptEntry.AddressMask(physicalAddressBits);
        _allow2M = allow2M;
        _allow1G = allow1G;
    }

    public ulong PresentMask => EptEntry.PermissionMask;

    public ulong AttributeMask => EptEntry.PermissionMask | LeafTypeMask;

    public ulong AddressMask { get; }

    // Non-leaf entries grant everything; the leaves carry the restrictions (bits 5:3, 6 and 7 are reserved in non-leaf entries).
    public ulong NonLeaf(ulong table) => (table & AddressMask) | EptEntry.PermissionMask;

    public bool LeafAllowed(int level) => level == 1 || (level == 2 && _allow2M) || (level == 3 && _allow1G);

    public bool NeedsInvalidation(ulong old, ulong value)
    {
        // Intel SDM Vol. 3C §29.4.3.4 "Guidelines for Use of the INVEPT Instruction": single-context INVEPT is required after changing
        // any of bits 2:0 from 1 to 0, the address in bits 51:12, bit 7 of a PDPTE/PDE, or bits 5:3 / bit 6 of the last entry used.
        // Not required when the old entry was not present (nothing derived from it is cached), nor when rights only go from 0 to 1
        // (a stale entry can then only cause an EPT violation, which itself invalidates the mappings used by the faulting access).
        if ((old & EptEntry.PermissionMask) == 0)
        {
            return false;
        }

        return (value & EptEntry.PermissionMask) == 0
            || ((old ^ value) & (AddressMask | EptEntry.LargePage | LeafTypeMask)) != 0
            || (old & ~value & EptEntry.PermissionMask) != 0;
    }
}

/// <summary>VT-d second-level entries (VT-d specification §9.8).</summary>
internal readonly struct SecondLevelFormat : IEntryFormat
{
    private readonly bool _allow2M;
    private readonly bool _allow1G;

    public SecondLevelFormat(int physicalAddressBits, bool allow2M, bool allow1G)
    {
        AddressMask = EptEntry.AddressMask(physicalAddressBits);
        _allow2M = allow2M;
        _allow1G = allow1G;
    }

    public ulong PresentMask => SecondLevelEntry.PermissionMask;

    public ulong AttributeMask => SecondLevelEntry.PermissionMask;

    public ulong AddressMask { get; }

    public ulong NonLeaf(ulong table) => (table & AddressMask) | SecondLevelEntry.PermissionMask;

    public bool LeafAllowed(int level) => level == 1 || (level == 2 && _allow2M) || (level == 3 && _allow1G);

    public bool NeedsInvalidation(ulong old, ulong value)
    {
        // VT-d specification §6.5 / §6.1: the IOTLB and paging-structure caches must be invalidated when a present entry is made more
        // restrictive, removed, re-pointed or changes page size; not-present → present needs it only in caching mode (handled by the caller).
        if ((old & SecondLevelEntry.PermissionMask) == 0)
        {
            return false;
        }

        return (value & SecondLevelEntry.PermissionMask) == 0
            || ((old ^ value) & (AddressMask | SecondLevelEntry.PageSize)) != 0
            || (old & ~value & SecondLevelEntry.PermissionMask) != 0;
    }
}
