// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.VTx.Tests.Walkers;

/// <summary>Outcome of a hardware-style walk.</summary>
public enum WalkStatus
{
    /// <summary>Translated.</summary>
    Ok,

    /// <summary>An entry on the path is not present: an EPT violation (exit reason 48) / a DMA remapping fault.</summary>
    NotPresent,

    /// <summary>An entry is misconfigured: an EPT misconfiguration (exit reason 49) / a reserved-field fault.</summary>
    Misconfigured,
}

/// <summary>The result of a walk: status, translated address, the rights granted by every level, the leaf's memory type.</summary>
public readonly record struct Translation(WalkStatus Status, ulong Hpa, bool Read, bool Write, bool Execute, int MemoryType, bool IgnorePat,
    ulong PageSize, string Reason)
{
    public static Translation Fault(WalkStatus status, string reason) => new(status, 0, false, false, false, -1, false, 0, reason);
}

/// <summary>
/// An EPT walker written from the Intel SDM, independent of the backend's code and constants: Vol. 3C §29.3.2 (4-level translation,
/// Tables 29-1 to 29-6), §29.3.3.1 (misconfigurations), §25.6.11 (EPTP format) and the EPTP VM-entry checks (§27.2.1.1).
/// </summary>
public static class SdmEptWalker
{
    public static Translation Walk(Func<ulong, ulong> read, ulong eptp, ulong gpa, int maxPhysicalAddressBits, bool executeOnlySupported = false)
    {
        ulong addressMask = ((1UL << maxPhysicalAddressBits) - 1) & ~0xFFFUL;
        ulong reservedHigh = ((1UL << 52) - 1) & ~((1UL << maxPhysicalAddressBits) - 1);

        // EPTP: bits 2:0 memory type must be UC (0) or WB (6); bits 5:3 = walk length − 1 must be 3; bits 11:7 reserved here
        // (bit 7 only with supervisor shadow-stack support); bits 63:N reserved.
        ulong eptpType = eptp & 0x7;
        if (eptpType != 0 && eptpType != 6)
        {
            return Translation.Fault(WalkStatus.Misconfigured, "EPTP memory type");
        }

        if (((eptp >> 3) & 0x7) != 3)
        {
            return Translation.Fault(WalkStatus.Misconfigured, "EPTP walk length");
        }

        if ((eptp & 0xF80) != 0 || (eptp & ~((1UL << maxPhysicalAddressBits) - 1)) != 0)
        {
            return Translation.Fault(WalkStatus.Misconfigured, "EPTP reserved bits");
        }

        if (gpa >= 1UL << 48)
        {
            return Translation.Fault(WalkStatus.NotPresent, "GPA beyond 48 bits");
        }

        ulong table = eptp & addressMask;
        bool r = true, w = true, x = true;
        for (int level = 4; level >= 1; level--)
        {
            int shift = 12 + (9 * (level - 1));
            ulong index = (gpa >> shift) & 0x1FF;
            ulong e = read(table + (index * 8));
            ulong rwx = e & 0x7;
            if (rwx == 0)
            {
                return Translation.Fault(WalkStatus.NotPresent, $"level {level} not present");
            }

            if ((e & 0x2) != 0 && (e & 0x1) == 0)
            {
                return Translation.Fault(WalkStatus.Misconfigured, $"level {level} write without read");
            }

            if (rwx == 0x4 && !executeOnlySupported)
            {
                return Translation.Fault(WalkStatus.Misconfigured, $"level {level} execute-only unsupported");
            }

            if ((e & reservedHigh) != 0)
            {
                return Translation.Fault(WalkStatus.Misconfigured, $"level {level} reserved address bits");
            }

            r &= (e & 0x1) != 0;
            w &= (e & 0x2) != 0;
            x &= (e & 0x4) != 0;
            bool leaf = level == 1 || ((level == 2 || level == 3) && (e & 0x80) != 0);
            if (level == 4 && (e & 0xF8) != 0)
            {
                return Translation.Fault(WalkStatus.Misconfigured, "PML4E bits 7:3 reserved");
            }

            if (!leaf)
            {
                if ((e & 0x78) != 0)
                {
                    return Translation.Fault(WalkStatus.Misconfigured, $"level {level} non-leaf bits 6:3 reserved");
                }

                table = e & addressMask;
                continue;
            }

            int memoryType = (int)((e >> 3) & 0x7);
            if (memoryType is 2 or 3 or 7)
            {
                return Translation.Fault(WalkStatus.Misconfigured, $"level {level} memory type {memoryType}");
            }

            ulong pageSize = 1UL << shift;
            if (level > 1 && (e & (pageSize - 1) & ~0xFFFUL) != 0)
            {
                return Translation.Fault(WalkStatus.Misconfigured, $"level {level} large-page reserved address bits");
            }

            ulong hpa = (e & addressMask & ~(pageSize - 1)) | (gpa & (pageSize - 1));
            return new Translation(WalkStatus.Ok, hpa, r, w, x, memoryType, (e & 0x40) != 0, pageSize, string.Empty);
        }

        return Translation.Fault(WalkStatus.NotPresent, "unreachable");
    }
}

/// <summary>
/// A VT-d legacy-mode walker written from the VT-d specification (§3.4.2 root/context lookup, §9.1 root entry, §9.3 context entry,
/// §9.8 second-level entries), independent of the backend.
/// </summary>
public static class SpecVtdWalker
{
    public static Translation Walk(Func<ulong, ulong> read, ulong rootTable, byte bus, byte devFn, ulong iova, int maxPhysicalAddressBits, out int domainId)
    {
        domainId = -1;
        ulong addressMask = ((1UL << maxPhysicalAddressBits) - 1) & ~0xFFFUL;
        ulong reservedHigh = ((1UL << 52) - 1) & ~((1UL << maxPhysicalAddressBits) - 1);
        ulong rootLow = read(rootTable + (bus * 16UL));
        if ((rootLow & 1) == 0)
        {
            return Translation.Fault(WalkStatus.NotPresent, "root entry not present");
        }

        ulong context = rootLow & addressMask;
        ulong low = read(context + (devFn * 16UL));
        ulong high = read(context + (devFn * 16UL) + 8);
        if ((low & 1) == 0)
        {
            return Translation.Fault(WalkStatus.NotPresent, "context entry not present");
        }

        if (((low >> 2) & 0x3) != 0)
        {
            return Translation.Fault(WalkStatus.Misconfigured, "translation type is not 00b");
        }

        if ((high & 0x7) != 2)
        {
            return Translation.Fault(WalkStatus.Misconfigured, "address width is not 48-bit/4-level");
        }

        domainId = (int)((high >> 8) & 0xFFFF);
        if (iova >= 1UL << 48)
        {
            return Translation.Fault(WalkStatus.NotPresent, "IOVA beyond AGAW");
        }

        ulong table = low & addressMask;
        bool r = true, w = true;
        for (int level = 4; level >= 1; level--)
        {
            int shift = 12 + (9 * (level - 1));
            ulong e = read(table + (((iova >> shift) & 0x1FF) * 8));
            if ((e & 0x3) == 0)
            {
                return Translation.Fault(WalkStatus.NotPresent, $"level {level} not present");
            }

            if ((e & reservedHigh) != 0)
            {
                return Translation.Fault(WalkStatus.Misconfigured, $"level {level} reserved address bits");
            }

            r &= (e & 0x1) != 0;
            w &= (e & 0x2) != 0;
            bool leaf = level == 1 || ((level == 2 || level == 3) && (e & 0x80) != 0);
            if (level == 4 && (e & 0x80) != 0)
            {
                return Translation.Fault(WalkStatus.Misconfigured, "PML4E page size bit");
            }

            if (!leaf)
            {
                table = e & addressMask;
                continue;
            }

            ulong pageSize = 1UL << shift;
            ulong hpa = (e & addressMask & ~(pageSize - 1)) | (iova & (pageSize - 1));
            return new Translation(WalkStatus.Ok, hpa, r, w, (e & 0x4) != 0, -1, false, pageSize, string.Empty);
        }

        return Translation.Fault(WalkStatus.NotPresent, "unreachable");
    }
}
