// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>
/// An index into one domain's capability table (the reference's <c>LocalCapa</c>). It carries no generation, exactly as
/// in the reference: a slot whose target died stays allocated (and unusable) until enumeration or a full table reclaims it.
/// </summary>
public readonly struct LocalCapability : IEquatable<LocalCapability>
{
    /// <summary>Creates a local capability index.</summary>
    /// <param name="index">The slot index in the domain's capability table.</param>
    public LocalCapability(int index) => Index = index;

    /// <summary>The slot index in the owning domain's capability table.</summary>
    public int Index { get; }

    /// <inheritdoc />
    public bool Equals(LocalCapability other) => Index == other.Index;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is LocalCapability other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => Index;

    /// <summary>Compares two indices.</summary>
    public static bool operator ==(LocalCapability left, LocalCapability right) => left.Equals(right);

    /// <summary>Compares two indices.</summary>
    public static bool operator !=(LocalCapability left, LocalCapability right) => !left.Equals(right);

    /// <summary>Converts an index.</summary>
    public static implicit operator LocalCapability(int index) => new(index);

    /// <summary>The decimal index.</summary>
    public override string ToString() => Index.ToString(CultureInfo.InvariantCulture);
}
