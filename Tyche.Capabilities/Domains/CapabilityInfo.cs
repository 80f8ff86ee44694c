// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>The kinds of capability a domain's table can hold.</summary>
public enum CapabilityKind : byte
{
    /// <summary>A tombstone (revoked) or free slot.</summary>
    None = 0,

    /// <summary>Management of a child domain (register code 1).</summary>
    Management = 1,

    /// <summary>May send capabilities to a domain (register code 2).</summary>
    Channel = 2,

    /// <summary>One-shot transfer of control to a domain on a core (register code 3).</summary>
    Switch = 3,

    /// <summary>Access to a memory range (register code 4).</summary>
    Region = 4,

    /// <summary>The right to revoke a region subtree (register code 5).</summary>
    RegionRevoke = 5,

    /// <summary>Ownership of a PCI function (an addition of this library; register code 6).</summary>
    Device = 6,

    /// <summary>The right to take a sent device back (an addition of this library; register code 7).</summary>
    DeviceRevoke = 7,
}

/// <summary>What enumeration reports about one capability (reference <c>CapaInfo</c>).</summary>
public readonly struct CapabilityInfo : IEquatable<CapabilityInfo>
{
    /// <summary>Creates an info value (the engine creates them).</summary>
    public CapabilityInfo(CapabilityKind kind, ulong start = 0, ulong end = 0, MemoryOperations operations = MemoryOperations.None,
        bool unique = false, bool hasChildren = false, ulong domainId = 0, bool isSealed = false, DeviceId device = default)
    {
        Kind = kind;
        Start = start;
        End = end;
        Operations = operations;
        Unique = unique;
        HasChildren = hasChildren;
        DomainId = domainId;
        Sealed = isSealed;
        Device = device;
    }

    /// <summary>The capability kind.</summary>
    public CapabilityKind Kind { get; }

    /// <summary>Region / revoke: first byte.</summary>
    public ulong Start { get; }

    /// <summary>Region / revoke: one past the last byte (exact; the reference reports +1 in one path).</summary>
    public ulong End { get; }

    /// <summary>Region / revoke: all seven operation flags (the reference drops VITAL; this engine keeps it).</summary>
    public MemoryOperations Operations { get; }

    /// <summary>Region: confidential ("unique"); revoke: the target is confidential.</summary>
    public bool Unique { get; }

    /// <summary>Region: the region has derived children.</summary>
    public bool HasChildren { get; }

    /// <summary>Management / channel / switch: the target domain's id (not its handle).</summary>
    public ulong DomainId { get; }

    /// <summary>Management: the target domain is sealed.</summary>
    public bool Sealed { get; }

    /// <summary>Device / device-revoke: the PCI function.</summary>
    public DeviceId Device { get; }

    /// <summary>
    /// The three-register encoding of the enumerate monitor call: <c>v3 = type | flags &lt;&lt; 8</c>. Flags for regions are
    /// bit 0 active, bit 1 unique, bits 2.. the operation bits (all seven: this engine widens the reference's u8 so VITAL survives).
    /// </summary>
    /// <param name="v1">Start, or the domain id.</param>
    /// <param name="v2">End, or 2 (sealed) / 1 (unsealed) for management.</param>
    /// <param name="v3">Type code and flags.</param>
    public void Serialize(out ulong v1, out ulong v2, out ulong v3)
    {
        switch (Kind)
        {
            case CapabilityKind.Region:
            case CapabilityKind.RegionRevoke:
                v1 = Start;
                v2 = End;
                ulong flags = (Kind == CapabilityKind.Region ? 1UL : 0UL) | (Unique ? 2UL : 0UL) | ((ulong)Operations << 2);
                v3 = (ulong)Kind | (flags << 8);
                return;
            case CapabilityKind.Management:
                v1 = DomainId;
                v2 = Sealed ? 2UL : 1UL;
                v3 = (ulong)Kind;
                return;
            case CapabilityKind.Device:
            case CapabilityKind.DeviceRevoke:
                v1 = (ulong)Device.GetHashCode();
                v2 = 0;
                v3 = (ulong)Kind;
                return;
            default:
                v1 = DomainId;
                v2 = 0;
                v3 = (ulong)Kind;
                return;
        }
    }

    /// <inheritdoc />
    public bool Equals(CapabilityInfo other) =>
        Kind == other.Kind && Start == other.Start && End == other.End && Operations == other.Operations && Unique == other.Unique
        && HasChildren == other.HasChildren && DomainId == other.DomainId && Sealed == other.Sealed && Device == other.Device;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is CapabilityInfo other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Start, End, Operations, DomainId, Device);

    /// <summary>Compares two values.</summary>
    public static bool operator ==(CapabilityInfo left, CapabilityInfo right) => left.Equals(right);

    /// <summary>Compares two values.</summary>
    public static bool operator !=(CapabilityInfo left, CapabilityInfo right) => !left.Equals(right);

    /// <summary>The reference display, e.g. <c>Region([0x0, 0x1000 | PURWXS])</c>, <c>Management(2 | _)</c>.</summary>
    public override string ToString()
    {
        string rights = MemoryOperationsFormat.Rights(Operations);
        return Kind switch
        {
            CapabilityKind.Region => F($"Region([0x{Start:x}, 0x{End:x} | {(HasChildren ? 'P' : '_')}{(Unique ? 'U' : '_')}{rights}])"),
            CapabilityKind.RegionRevoke => F($"RegionRevoke([0x{Start:x}, 0x{End:x} | {(Unique ? 'C' : '_')}{rights}])"),
            CapabilityKind.Management => F($"Management({DomainId} | {(Sealed ? 'S' : '_')})"),
            CapabilityKind.Channel => F($"Channel({DomainId})"),
            CapabilityKind.Switch => F($"Switch({DomainId})"),
            CapabilityKind.Device => F($"Device({Device})"),
            CapabilityKind.DeviceRevoke => F($"DeviceRevoke({Device})"),
            _ => "None",
        };
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
