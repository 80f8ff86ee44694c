// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>Helpers to write permission lists compactly: <c>P(0x1000, 0x2000, "RW")</c>.</summary>
internal static class Ranges
{
    public static MemoryPermission P(ulong start, ulong end, string rights)
    {
        MemoryOperations ops = MemoryOperations.None;
        foreach (char c in rights)
        {
            ops |= c switch
            {
                'R' => MemoryOperations.Read,
                'W' => MemoryOperations.Write,
                'X' => MemoryOperations.Execute,
                'S' => MemoryOperations.Super,
                '-' => MemoryOperations.None,
                _ => throw new ArgumentException($"bad right {c}"),
            };
        }

        return new MemoryPermission(start, end, ops);
    }

    /// <summary>The rights PMP is expected to give for a domain right set (documented normalisation: S ignored, W needs R).</summary>
    public static bool DomainAllows(MemoryOperations ops, AccessKind kind) => kind switch
    {
        AccessKind.Read => (ops & MemoryOperations.Read) != 0,
        AccessKind.Write => (ops & MemoryOperations.Read) != 0 && (ops & MemoryOperations.Write) != 0,
        _ => (ops & MemoryOperations.Execute) != 0,
    };

    public static bool MonitorAllows(PmpConfigBits perms, AccessKind kind) => kind switch
    {
        AccessKind.Read => (perms & PmpConfigBits.Read) != 0,
        AccessKind.Write => (perms & PmpConfigBits.Write) != 0,
        _ => (perms & PmpConfigBits.Execute) != 0,
    };

    /// <summary>
    /// The expected outcome from the engine's point of view: monitor regions first (they have priority), then the
    /// domain's effective rights; unmatched is denied to S/U and allowed to M. Valid for accesses that do not straddle a
    /// range boundary (a straddling access is decided by PMP's partial-match rule, see <see cref="PmpReferenceWalker"/>).
    /// </summary>
    public static bool Expected(IReadOnlyList<MemoryPermission> domain, IReadOnlyList<PmpMonitorRegion> monitor, ulong address, AccessKind kind, PrivilegeMode mode)
    {
        foreach (PmpMonitorRegion m in monitor)
        {
            if (address >= m.Start && address < m.End)
            {
                return mode == PrivilegeMode.Machine && !m.Locked || MonitorAllows(m.Permissions, kind);
            }
        }

        if (mode == PrivilegeMode.Machine)
        {
            return true;
        }

        foreach (MemoryPermission p in domain)
        {
            if (address >= p.Start && address < p.End)
            {
                return DomainAllows(p.Operations, kind);
            }
        }

        return false;
    }

    /// <summary>Whether [address, address+size) crosses a boundary of any domain range or monitor region.</summary>
    public static bool Straddles(IReadOnlyList<MemoryPermission> domain, IReadOnlyList<PmpMonitorRegion> monitor, ulong address, int size)
    {
        ulong end = address + (ulong)size;
        foreach (MemoryPermission p in domain)
        {
            if ((p.Start > address && p.Start < end) || (p.End > address && p.End < end))
            {
                return true;
            }
        }

        foreach (PmpMonitorRegion m in monitor)
        {
            if ((m.Start > address && m.Start < end) || (m.End > address && m.End < end))
            {
                return true;
            }
        }

        return false;
    }
}
