// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.Pmp;

/// <summary>
/// What one RISC-V hart implements: register width, number of PMP entries, granularity and physical-address width,
/// and whether it caches translations (which decides the fence after a PMP change). Defaults describe QEMU 7.2's
/// <c>virt</c> machine with an <c>rv64</c> hart (16 entries, G = 0, Sv39/48 paging).
/// </summary>
public sealed class PmpHartOptions
{
    /// <summary>Register width; decides which <c>pmpcfg</c> registers exist. Default RV64.</summary>
    public PmpXlen Xlen { get; set; } = PmpXlen.Rv64;

    /// <summary>Implemented PMP entries, 1–64 (Privileged ISA §3.7: the lowest-numbered entries are implemented first). Default 16.</summary>
    public int EntryCount { get; set; } = 16;

    /// <summary>Granularity G: every region is a multiple of <c>2^(G+2)</c> bytes; NA4 needs G = 0 (Privileged ISA §3.7.1). Default 0.</summary>
    public int Granularity { get; set; }

    /// <summary>
    /// Implemented physical-address bits. <c>pmpaddr</c> holds bits <c>(PhysicalAddressBits−1):2</c>; higher bits are
    /// WARL zero on hardware (QEMU 7.2 keeps them, notes/hw-validation.md), so every value is masked to this width.
    /// Default 56 (RV64 maximum); at most 34 on RV32.
    /// </summary>
    public int PhysicalAddressBits { get; set; } = PmpEncoding.MaxPhysicalAddressBitsRv64;

    /// <summary>Whether the hart implements S-mode address translation, so a PMP change needs <c>SFENCE.VMA x0, x0</c> (Privileged ISA §3.7.2). Default true.</summary>
    public bool HasAddressTranslation { get; set; } = true;

    /// <summary>Whether the hart implements the hypervisor extension, so a PMP change also needs <c>HFENCE.GVMA x0, x0</c>. Default false.</summary>
    public bool HasHypervisor { get; set; }

    /// <summary>Checks the options and names the first broken rule.</summary>
    /// <param name="error">A full sentence describing the problem, or <see langword="null"/>.</param>
    /// <returns><see langword="true"/> when the options describe a legal hart.</returns>
    public bool TryValidate(out string? error)
    {
        int maxBits = Xlen == PmpXlen.Rv64 ? PmpEncoding.MaxPhysicalAddressBitsRv64 : PmpEncoding.MaxPhysicalAddressBitsRv32;
        if (Xlen is not (PmpXlen.Rv32 or PmpXlen.Rv64))
        {
            error = $"Xlen {(int)Xlen} is not RV32 or RV64.";
        }
        else if (EntryCount is < 1 or > PmpEncoding.MaxEntries)
        {
            error = $"EntryCount {EntryCount} is outside 1..{PmpEncoding.MaxEntries} (Privileged ISA §3.7).";
        }
        else if (PhysicalAddressBits < PmpEncoding.AddressShift + 2 || PhysicalAddressBits > maxBits)
        {
            error = $"PhysicalAddressBits {PhysicalAddressBits} is outside 4..{maxBits} for {Xlen} (pmpaddr holds bits {maxBits - 1}:2).";
        }
        else if (Granularity < 0 || Granularity + PmpEncoding.AddressShift >= PhysicalAddressBits)
        {
            error = $"Granularity {Granularity} gives a grain of 2^{Granularity + PmpEncoding.AddressShift} bytes, which does not fit a {PhysicalAddressBits}-bit physical address space.";
        }
        else
        {
            error = null;
        }

        return error is null;
    }
}
