// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>Access kinds of a probe.</summary>
internal enum AccessKind : byte
{
    Read = (byte)'R',
    Write = (byte)'W',
    Execute = (byte)'X',
}

/// <summary>Privilege modes (mstatus.MPP encoding, Privileged ISA §3.1.6.1).</summary>
internal enum PrivilegeMode : byte
{
    User = 0,
    Supervisor = 1,
    Machine = 3,
}

/// <summary>
/// An independent PMP checker written from the RISC-V Privileged ISA §3.7.1 text, used as an oracle: it shares no
/// code with the compiler (no PmpEncoding helpers), only the register image.
/// </summary>
internal static class PmpReferenceWalker
{
    // cfg byte fields (Privileged ISA §3.7.1): R bit 0, W bit 1, X bit 2, A bits 4:3, L bit 7.
    private const int R = 0x01;
    private const int W = 0x02;
    private const int X = 0x04;
    private const int AShift = 3;
    private const int AMask = 0x3;
    private const int L = 0x80;
    private const int Off = 0, Tor = 1, Na4 = 2, Napot = 3;

    /// <summary>Whether an access of <paramref name="size"/> bytes at <paramref name="address"/> succeeds.</summary>
    public static bool Allows(ReadOnlySpan<ulong> pmpaddr, ReadOnlySpan<byte> cfg, int physicalAddressBits, ulong address, int size, AccessKind kind, PrivilegeMode mode)
    {
        ulong mask = (1UL << (physicalAddressBits - 2)) - 1; // WARL: pmpaddr holds bits (PA-1):2
        UInt128 first = address;
        UInt128 last = (UInt128)address + (ulong)size; // exclusive
        for (int i = 0; i < cfg.Length; i++)
        {
            int a = (cfg[i] >> AShift) & AMask;
            UInt128 lo, hi;
            ulong value = pmpaddr[i] & mask;
            switch (a)
            {
                case Off:
                    continue;
                case Tor:
                    lo = i == 0 ? 0 : (UInt128)(pmpaddr[i - 1] & mask) << 2;
                    hi = (UInt128)value << 2;
                    break;
                case Na4:
                    lo = (UInt128)value << 2;
                    hi = lo + 4;
                    break;
                default:
                    {
                        int ones = 0;
                        while (ones < 64 && ((value >> ones) & 1) == 1)
                        {
                            ones++;
                        }

                        UInt128 regionSize = (UInt128)1 << (ones + 3);
                        lo = ((UInt128)value << 2) & ~(regionSize - 1);
                        hi = lo + regionSize;
                        break;
                    }
            }

            if (lo >= hi)
            {
                continue; // an empty TOR range matches nothing
            }

            bool any = first < hi && last > lo;
            if (!any)
            {
                continue;
            }

            // The lowest-numbered matching entry decides; it must cover every byte of the access (§3.7.1.3).
            bool all = first >= lo && last <= hi;
            if (!all)
            {
                return false;
            }

            if (mode == PrivilegeMode.Machine && (cfg[i] & L) == 0)
            {
                return true;
            }

            int need = kind switch { AccessKind.Read => R, AccessKind.Write => W, _ => X };
            return (cfg[i] & need) != 0;
        }

        // No match: M-mode succeeds, S/U fail when at least one entry is implemented (§3.7.1.3).
        return mode == PrivilegeMode.Machine;
    }

    public static bool Allows(PmpImage image, int physicalAddressBits, ulong address, int size, AccessKind kind, PrivilegeMode mode)
    {
        Span<ulong> a = stackalloc ulong[image.EntryCount];
        Span<byte> c = stackalloc byte[image.EntryCount];
        for (int i = 0; i < image.EntryCount; i++)
        {
            a[i] = image.GetAddress(i);
            c[i] = (byte)image.GetConfig(i);
        }

        return Allows(a, c, physicalAddressBits, address, size, kind, mode);
    }
}
