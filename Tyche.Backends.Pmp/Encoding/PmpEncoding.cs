// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.Pmp;

/// <summary>
/// The bits of one PMP configuration byte <c>pmpNcfg</c> (RISC-V Privileged ISA §3.7.1, Figure "PMP configuration
/// register format"): bit 0 R, bit 1 W, bit 2 X, bits 4:3 A, bits 6:5 reserved (WPRI, written 0), bit 7 L.
/// </summary>
[Flags]
public enum PmpConfigBits : byte
{
    /// <summary>No bit: an OFF entry granting nothing.</summary>
    None = 0,

    /// <summary>R: loads are permitted (Privileged ISA §3.7.1).</summary>
    Read = 1 << 0,

    /// <summary>W: stores are permitted. W=1 with R=0 is reserved (Privileged ISA §3.7.1) and never produced.</summary>
    Write = 1 << 1,

    /// <summary>X: instruction fetches are permitted (Privileged ISA §3.7.1).</summary>
    Execute = 1 << 2,

    /// <summary>A = TOR (value 1 in bits 4:3): top of range, bounded below by the previous entry's address (Privileged ISA §3.7.1.1, Table "Encoding of A field").</summary>
    AddressTor = 1 << PmpEncoding.AddressFieldShift,

    /// <summary>A = NA4 (value 2 in bits 4:3): naturally aligned four-byte region (Privileged ISA §3.7.1.1).</summary>
    AddressNa4 = 2 << PmpEncoding.AddressFieldShift,

    /// <summary>A = NAPOT (value 3 in bits 4:3): naturally aligned power-of-two region of at least eight bytes (Privileged ISA §3.7.1.1).</summary>
    AddressNapot = 3 << PmpEncoding.AddressFieldShift,

    /// <summary>L: the entry is locked until reset and also applies to M-mode (Privileged ISA §3.7.1.2).</summary>
    Locked = 1 << 7,

    /// <summary>The permission bits R, W, X.</summary>
    Permissions = Read | Write | Execute,

    /// <summary>The two-bit A field (bits 4:3).</summary>
    AddressMask = AddressNapot,
}

/// <summary>The A field of a PMP configuration byte (RISC-V Privileged ISA §3.7.1.1, Table "Encoding of A field in PMP configuration registers").</summary>
public enum PmpAddressMatching : byte
{
    /// <summary>Null region: the entry matches nothing (its address may still be a TOR lower bound).</summary>
    Off = 0,

    /// <summary>Top of range: matches <c>pmpaddr[i-1] ≤ y &lt; pmpaddr[i]</c> (word addresses); entry 0 uses 0 as its lower bound.</summary>
    Tor = 1,

    /// <summary>Naturally aligned four-byte region; unavailable when the granularity G ≥ 1.</summary>
    Na4 = 2,

    /// <summary>Naturally aligned power-of-two region of at least eight bytes, its size in the trailing ones of <c>pmpaddr</c>.</summary>
    Napot = 3,
}

/// <summary>Register width of the hart: it fixes which <c>pmpcfg</c> CSRs exist and how wide <c>pmpaddr</c> is.</summary>
public enum PmpXlen : byte
{
    /// <summary>RV32: <c>pmpcfg0</c>–<c>pmpcfg15</c> each hold four entries; <c>pmpaddr</c> holds physical-address bits 33:2.</summary>
    Rv32 = 32,

    /// <summary>RV64: only the even <c>pmpcfg0, 2, …, 14</c> exist, each holding eight entries; <c>pmpaddr</c> holds physical-address bits 55:2.</summary>
    Rv64 = 64,
}

/// <summary>The fences a hart must execute after its PMP CSRs were written (RISC-V Privileged ISA §3.7.2).</summary>
[Flags]
public enum PmpFence : byte
{
    /// <summary>No fence: nothing changed, or the hart has no address translation (PMP is then checked synchronously).</summary>
    None = 0,

    /// <summary>
    /// <c>SFENCE.VMA x0, x0</c>: "when the PMP settings are modified, M-mode software must synchronize the PMP settings
    /// with the virtual memory system and any PMP or address-translation caches … by executing an SFENCE.VMA instruction
    /// with rs1=x0 and rs2=x0, after the PMP CSRs are written" (Privileged ISA §3.7.2). Needed when the hart implements
    /// S-mode address translation.
    /// </summary>
    SfenceVma = 1 << 0,

    /// <summary>
    /// <c>HFENCE.GVMA x0, x0</c>: with the hypervisor extension, guest-physical translations cached under the old PMP
    /// must be dropped too (Privileged ISA §3.7.2 referring to the hypervisor chapter, "Memory-Management Fences").
    /// </summary>
    HfenceGvma = 1 << 1,
}

/// <summary>PMP CSR numbers and field layouts, each citing the RISC-V Privileged ISA (version 20211203).</summary>
public static class PmpEncoding
{
    /// <summary>CSR number of <c>pmpcfg0</c>; <c>pmpcfgN</c> is <c>0x3A0 + N</c> (Privileged ISA §2.2, Table "Currently allocated RISC-V machine-level CSR addresses").</summary>
    public const ushort PmpCfg0Csr = 0x3A0;

    /// <summary>CSR number of <c>pmpaddr0</c>; <c>pmpaddrN</c> is <c>0x3B0 + N</c> for N ≤ 63 (Privileged ISA §2.2).</summary>
    public const ushort PmpAddr0Csr = 0x3B0;

    /// <summary>The architectural maximum number of PMP entries (Privileged ISA §3.7: "Up to 64 PMP entries are supported").</summary>
    public const int MaxEntries = 64;

    /// <summary>Entries per <c>pmpcfg</c> register on RV32 (four bytes, Privileged ISA §3.7.1).</summary>
    public const int EntriesPerCfgRv32 = 4;

    /// <summary>Entries per <c>pmpcfg</c> register on RV64 (eight bytes; odd-numbered registers are illegal, Privileged ISA §3.7.1).</summary>
    public const int EntriesPerCfgRv64 = 8;

    /// <summary>Bit position of the A field in a configuration byte (Privileged ISA §3.7.1).</summary>
    public const int AddressFieldShift = 3;

    /// <summary>Bits per configuration byte inside a <c>pmpcfg</c> register.</summary>
    public const int BitsPerConfigByte = 8;

    /// <summary><c>pmpaddr</c> holds address bits from 2 upward: the stored value is the byte address shifted right by 2 (Privileged ISA §3.7.1).</summary>
    public const int AddressShift = 2;

    /// <summary>The smallest PMP region: four bytes, the NA4 size and the grain at G = 0 (Privileged ISA §3.7.1).</summary>
    public const ulong WordSize = 1UL << AddressShift;

    /// <summary>The smallest NAPOT region: eight bytes (Privileged ISA §3.7.1.1, "NAPOT ranges … of 8 bytes or larger").</summary>
    public const ulong MinNapotSize = 8;

    /// <summary>Number of trailing ones in <c>pmpaddr</c> for an 8-byte NAPOT region; each further one doubles the size (Privileged ISA §3.7.1.1, Table "NAPOT range encoding").</summary>
    public const int NapotSizeBias = 3;

    /// <summary>Largest physical-address width on RV64: <c>pmpaddr</c> encodes bits 55:2 (Privileged ISA §3.7.1).</summary>
    public const int MaxPhysicalAddressBitsRv64 = 56;

    /// <summary>Largest physical-address width on RV32: <c>pmpaddr</c> encodes bits 33:2 (Privileged ISA §3.7.1).</summary>
    public const int MaxPhysicalAddressBitsRv32 = 34;

    /// <summary>Largest granularity exponent G: a grain is <c>2^(G+2)</c> bytes.</summary>
    public const int MaxGranularity = 52;

    /// <summary>Extracts the A field from a configuration byte.</summary>
    /// <param name="config">The configuration byte.</param>
    /// <returns>The address-matching mode.</returns>
    public static PmpAddressMatching GetMatching(PmpConfigBits config) =>
        (PmpAddressMatching)((byte)(config & PmpConfigBits.AddressMask) >> AddressFieldShift);

    /// <summary>Builds a configuration byte from a matching mode, permissions and the lock bit.</summary>
    /// <param name="matching">The A field.</param>
    /// <param name="permissions">R/W/X bits (other bits ignored).</param>
    /// <param name="locked">Whether to set L.</param>
    /// <returns>The configuration byte.</returns>
    public static PmpConfigBits MakeConfig(PmpAddressMatching matching, PmpConfigBits permissions, bool locked) =>
        (PmpConfigBits)((byte)matching << AddressFieldShift) | (permissions & PmpConfigBits.Permissions) | (locked ? PmpConfigBits.Locked : PmpConfigBits.None);

    /// <summary>Whether the configuration byte's permissions are the reserved W=1, R=0 combination (Privileged ISA §3.7.1).</summary>
    /// <param name="config">The configuration byte.</param>
    /// <returns><see langword="true"/> for a reserved encoding.</returns>
    public static bool IsReservedPermission(PmpConfigBits config) =>
        (config & (PmpConfigBits.Read | PmpConfigBits.Write)) == PmpConfigBits.Write;

    /// <summary>The NAPOT <c>pmpaddr</c> value for a naturally aligned region (<c>(base &gt;&gt; 2) | (size/8 − 1)</c>, Privileged ISA §3.7.1.1).</summary>
    /// <param name="start">Region base, aligned to <paramref name="size"/>.</param>
    /// <param name="size">Region size, a power of two of at least eight bytes.</param>
    /// <returns>The unmasked pmpaddr value.</returns>
    public static ulong EncodeNapot(ulong start, ulong size) => (start >> AddressShift) | ((size >> NapotSizeBias) - 1);

    /// <summary>Decodes a NAPOT <c>pmpaddr</c> value into its byte range (for walkers and dumps).</summary>
    /// <param name="pmpaddr">The register value (already masked to the implemented width).</param>
    /// <param name="start">First byte.</param>
    /// <param name="size">Size in bytes (0 when the region is the whole 2^64 space).</param>
    public static void DecodeNapot(ulong pmpaddr, out ulong start, out ulong size)
    {
        int ones = System.Numerics.BitOperations.TrailingZeroCount(~pmpaddr);
        int log2 = ones + NapotSizeBias;
        if (log2 >= 64)
        {
            start = 0;
            size = 0;
            return;
        }

        size = 1UL << log2;
        start = (pmpaddr << AddressShift) & ~(size - 1);
    }

    /// <summary>The CSR number of <c>pmpaddr<paramref name="entry"/></c>.</summary>
    /// <param name="entry">Entry index, 0–63.</param>
    /// <returns>The CSR number.</returns>
    public static ushort AddressCsr(int entry) => (ushort)(PmpAddr0Csr + entry);

    /// <summary>The CSR number of the <c>pmpcfg</c> register that holds entry <paramref name="entry"/>'s byte.</summary>
    /// <param name="xlen">Register width.</param>
    /// <param name="entry">Entry index, 0–63.</param>
    /// <returns>The CSR number (<c>pmpcfg(2·⌊i/8⌋)</c> on RV64, <c>pmpcfg(⌊i/4⌋)</c> on RV32).</returns>
    public static ushort ConfigCsr(PmpXlen xlen, int entry) => xlen == PmpXlen.Rv64
        ? (ushort)(PmpCfg0Csr + (2 * (entry / EntriesPerCfgRv64)))
        : (ushort)(PmpCfg0Csr + (entry / EntriesPerCfgRv32));

    /// <summary>Entries held by one <c>pmpcfg</c> register.</summary>
    /// <param name="xlen">Register width.</param>
    /// <returns>4 on RV32, 8 on RV64.</returns>
    public static int EntriesPerConfigRegister(PmpXlen xlen) => xlen == PmpXlen.Rv64 ? EntriesPerCfgRv64 : EntriesPerCfgRv32;
}
