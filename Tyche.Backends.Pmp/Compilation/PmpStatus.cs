// SPDX-License-Identifier: Apache-2.0
using System.Globalization;

namespace Tyche.Backends.Pmp;

/// <summary>Outcome of compiling a domain's ranges into PMP entries. Nothing is written unless the status is <see cref="Ok"/>.</summary>
public enum PmpStatus : byte
{
    /// <summary>The image was written (or, for a measurement, the ranges fit).</summary>
    Ok,

    /// <summary>The ranges need more entries than the hart leaves to domains; the result says how many are needed and available. Refuse the operation.</summary>
    TooManyEntries,

    /// <summary>A range's start or end is not a multiple of the grain <c>2^(G+2)</c>; PMP cannot express it exactly. Align the region.</summary>
    Misaligned,

    /// <summary>A range lies beyond the implemented physical-address width, or ends at the very top where only NAPOT reaches and the range is not NAPOT-shaped.</summary>
    AddressOutOfRange,

    /// <summary>The ranges are not sorted, overlap, or one is empty. The engine never produces this; a caller-built list does.</summary>
    InvalidRanges,

    /// <summary>The destination or previous image has another entry count or register width than this compiler's hart.</summary>
    ShapeMismatch,

    /// <summary>The destination span for CSR writes is shorter than <see cref="PmpCompiler.MaxSwitchWrites"/> requires for this switch.</summary>
    DestinationTooSmall,
}

/// <summary>The result of a compilation or measurement: status, entry budget and, on a range error, the offending range.</summary>
/// <param name="Status">The outcome.</param>
/// <param name="EntriesNeeded">Entries the domain needs (exact when the ranges are valid; 0 otherwise).</param>
/// <param name="EntriesAvailable">Entries the hart leaves to domains (total minus the monitor's).</param>
/// <param name="Start">For range errors: first byte of the offending range.</param>
/// <param name="End">For range errors: one past its last byte.</param>
public readonly record struct PmpCompileResult(PmpStatus Status, int EntriesNeeded, int EntriesAvailable, ulong Start = 0, ulong End = 0)
{
    /// <summary>Whether the status is <see cref="PmpStatus.Ok"/>.</summary>
    public bool IsOk => Status == PmpStatus.Ok;

    /// <summary>A full sentence describing the outcome, e.g. "The domain needs 17 PMP entries but the hart has 15 for domains."</summary>
    public override string ToString() => Status switch
    {
        PmpStatus.Ok => string.Create(CultureInfo.InvariantCulture, $"The domain uses {EntriesNeeded} of {EntriesAvailable} PMP entries available to domains."),
        PmpStatus.TooManyEntries => string.Create(CultureInfo.InvariantCulture, $"The domain needs {EntriesNeeded} PMP entries but the hart has {EntriesAvailable} for domains."),
        PmpStatus.Misaligned => string.Create(CultureInfo.InvariantCulture, $"The range [0x{Start:x}, 0x{End:x}) is not aligned to the PMP grain."),
        PmpStatus.AddressOutOfRange => string.Create(CultureInfo.InvariantCulture, $"The range [0x{Start:x}, 0x{End:x}) cannot be expressed within the implemented physical-address width."),
        PmpStatus.InvalidRanges => string.Create(CultureInfo.InvariantCulture, $"The range [0x{Start:x}, 0x{End:x}) is empty, unsorted or overlaps its predecessor."),
        PmpStatus.ShapeMismatch => "The image has another entry count or register width than the compiler's hart.",
        PmpStatus.DestinationTooSmall => "The destination span is too small.",
        _ => Status.ToString(),
    };
}

/// <summary>One CSR write a monitor performs (<c>csrw csr, value</c>).</summary>
/// <param name="Csr">The CSR number (0x3A0–0x3AF pmpcfg, 0x3B0–0x3EF pmpaddr).</param>
/// <param name="Value">The value to write.</param>
public readonly record struct PmpCsrWrite(ushort Csr, ulong Value)
{
    /// <summary>The assembly form, e.g. <c>csrw pmpaddr3, 0x20004fff</c>.</summary>
    public override string ToString() => Csr >= PmpEncoding.PmpAddr0Csr
        ? string.Create(CultureInfo.InvariantCulture, $"csrw pmpaddr{Csr - PmpEncoding.PmpAddr0Csr}, 0x{Value:x}")
        : string.Create(CultureInfo.InvariantCulture, $"csrw pmpcfg{Csr - PmpEncoding.PmpCfg0Csr}, 0x{Value:x}");
}
