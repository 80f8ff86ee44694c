// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>A half-open physical range <c>[Start, End)</c> with memory operations (reference <c>AccessRights</c>).</summary>
public readonly struct AccessRights : IEquatable<AccessRights>
{
    /// <summary>Creates an access-rights value.</summary>
    /// <param name="start">First byte of the range.</param>
    /// <param name="end">One past the last byte of the range.</param>
    /// <param name="operations">Rights and attributes.</param>
    public AccessRights(ulong start, ulong end, MemoryOperations operations)
    {
        Start = start;
        End = end;
        Operations = operations;
    }

    /// <summary>First byte of the range.</summary>
    public ulong Start { get; }

    /// <summary>One past the last byte of the range.</summary>
    public ulong End { get; }

    /// <summary>Rights and attributes.</summary>
    public MemoryOperations Operations { get; }

    /// <summary>Whether <c>Start &lt;= End</c> (empty ranges are valid, as in the reference).</summary>
    public bool IsValid => Start <= End;

    /// <summary>Whether the two half-open ranges share at least one byte (touching ranges do not overlap).</summary>
    public bool Overlaps(in AccessRights other) => other.End > Start && other.Start < End;

    /// <summary>Whether <paramref name="other"/>'s range lies inside this range.</summary>
    public bool Contains(in AccessRights other) => other.Start >= Start && other.End <= End;

    /// <inheritdoc />
    public bool Equals(AccessRights other) => Start == other.Start && End == other.End && Operations == other.Operations;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is AccessRights other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Start, End, Operations);

    /// <summary>Compares two values.</summary>
    public static bool operator ==(AccessRights left, AccessRights right) => left.Equals(right);

    /// <summary>Compares two values.</summary>
    public static bool operator !=(AccessRights left, AccessRights right) => !left.Equals(right);

    /// <summary>The reference display form, e.g. <c>[0x0, 0x1000 | RWXS]</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[0x{Start:x}, 0x{End:x} | {MemoryOperationsFormat.Rights(Operations)}]");
}

/// <summary>Reference display helpers for <see cref="MemoryOperations"/>.</summary>
public static class MemoryOperationsFormat
{
    /// <summary>The four-character rights display of the reference: <c>R</c>/<c>W</c>/<c>X</c>/<c>S</c> or <c>_</c>, e.g. <c>R___</c>.</summary>
    /// <param name="operations">The operations to display; attribute flags are not shown.</param>
    /// <returns>A four-character string.</returns>
    public static string Rights(MemoryOperations operations) => (((int)operations) & 0xF) switch
    {
        0x0 => "____", 0x1 => "R___", 0x2 => "_W__", 0x3 => "RW__",
        0x4 => "__X_", 0x5 => "R_X_", 0x6 => "_WX_", 0x7 => "RWX_",
        0x8 => "___S", 0x9 => "R__S", 0xA => "_W_S", 0xB => "RW_S",
        0xC => "__XS", 0xD => "R_XS", 0xE => "_WXS", _ => "RWXS",
    };
}
