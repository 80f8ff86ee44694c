// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>A PCI function, <c>segment:bus:device.function</c> (device 0–31, function 0–7).</summary>
public readonly struct DeviceId : IEquatable<DeviceId>, IComparable<DeviceId>
{
    /// <summary>Creates a PCI function identifier.</summary>
    /// <param name="segment">PCI segment (domain) number.</param>
    /// <param name="bus">Bus number.</param>
    /// <param name="device">Device number, 0–31.</param>
    /// <param name="function">Function number, 0–7.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="device"/> or <paramref name="function"/> is out of range.</exception>
    public DeviceId(ushort segment, byte bus, byte device, byte function)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(device, (byte)31);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(function, (byte)7);
        Segment = segment;
        Bus = bus;
        Device = device;
        Function = function;
    }

    /// <summary>PCI segment number.</summary>
    public ushort Segment { get; }

    /// <summary>Bus number.</summary>
    public byte Bus { get; }

    /// <summary>Device number (0–31).</summary>
    public byte Device { get; }

    /// <summary>Function number (0–7).</summary>
    public byte Function { get; }

    /// <summary>The 16-bit requester id <c>bus &lt;&lt; 8 | device &lt;&lt; 3 | function</c> (VT-d source-id).</summary>
    public ushort RequesterId => (ushort)((Bus << 8) | (Device << 3) | Function);

    /// <summary>The device/function byte <c>device &lt;&lt; 3 | function</c> that indexes a VT-d context table.</summary>
    public byte DevFn => (byte)((Device << 3) | Function);

    /// <summary>Parses <c>bus:device.function</c> or <c>segment:bus:device.function</c> in hex, e.g. <c>00:02.0</c>.</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="id">The parsed identifier.</param>
    /// <returns>Whether the text was well formed.</returns>
    public static bool TryParse(ReadOnlySpan<char> text, out DeviceId id)
    {
        id = default;
        int dot = text.LastIndexOf('.');
        if (dot < 0)
        {
            return false;
        }

        ReadOnlySpan<char> head = text[..dot];
        int c2 = head.LastIndexOf(':');
        if (c2 < 0)
        {
            return false;
        }

        int c1 = head[..c2].LastIndexOf(':');
        ReadOnlySpan<char> seg = c1 < 0 ? "0" : head[..c1];
        ReadOnlySpan<char> bus = c1 < 0 ? head[..c2] : head[(c1 + 1)..c2];
        if (!ushort.TryParse(seg, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ushort s)
            || !byte.TryParse(bus, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte b)
            || !byte.TryParse(head[(c2 + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte d)
            || !byte.TryParse(text[(dot + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte f)
            || d > 31 || f > 7)
        {
            return false;
        }

        id = new DeviceId(s, b, d, f);
        return true;
    }

    /// <inheritdoc />
    public bool Equals(DeviceId other) => Segment == other.Segment && RequesterId == other.RequesterId;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is DeviceId other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => (Segment << 16) | RequesterId;

    /// <inheritdoc />
    public int CompareTo(DeviceId other) => GetHashCode().CompareTo(other.GetHashCode());

    /// <summary>Compares two identifiers.</summary>
    public static bool operator ==(DeviceId left, DeviceId right) => left.Equals(right);

    /// <summary>Compares two identifiers.</summary>
    public static bool operator !=(DeviceId left, DeviceId right) => !left.Equals(right);

    /// <summary>Orders identifiers.</summary>
    public static bool operator <(DeviceId left, DeviceId right) => left.CompareTo(right) < 0;

    /// <summary>Orders identifiers.</summary>
    public static bool operator >(DeviceId left, DeviceId right) => left.CompareTo(right) > 0;

    /// <summary>Orders identifiers.</summary>
    public static bool operator <=(DeviceId left, DeviceId right) => left.CompareTo(right) <= 0;

    /// <summary>Orders identifiers.</summary>
    public static bool operator >=(DeviceId left, DeviceId right) => left.CompareTo(right) >= 0;

    /// <summary>The form <c>0000:00:02.0</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Segment:x4}:{Bus:x2}:{Device:x2}.{Function:x}");
}
