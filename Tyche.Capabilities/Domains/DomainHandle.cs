// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>
/// A generational handle to a security domain: a slot index in the engine's domain pool plus the slot's generation
/// when the handle was issued. Revoking the domain bumps the generation, so every outstanding handle becomes stale
/// and is refused with <see cref="CapabilityError.StaleDomain"/>.
/// </summary>
public readonly struct DomainHandle : IEquatable<DomainHandle>
{
    /// <summary>Creates a handle from its parts (used by decoders and tests; the engine issues handles).</summary>
    /// <param name="index">The slot index in the domain pool.</param>
    /// <param name="generation">The slot generation.</param>
    public DomainHandle(int index, uint generation)
    {
        Index = index;
        Generation = generation;
    }

    /// <summary>The handle that designates no domain (<c>H(usize::MAX, …)</c> in the reference).</summary>
    public static DomainHandle Invalid => new(-1, uint.MaxValue);

    /// <summary>The slot index in the engine's domain pool.</summary>
    public int Index { get; }

    /// <summary>The slot generation the handle was issued with.</summary>
    public uint Generation { get; }

    /// <summary>Whether this is <see cref="Invalid"/>.</summary>
    public bool IsInvalid => Index < 0;

    /// <inheritdoc />
    public bool Equals(DomainHandle other) => Index == other.Index && Generation == other.Generation;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is DomainHandle other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Index, Generation);

    /// <summary>Compares two handles.</summary>
    public static bool operator ==(DomainHandle left, DomainHandle right) => left.Equals(right);

    /// <summary>Compares two handles.</summary>
    public static bool operator !=(DomainHandle left, DomainHandle right) => !left.Equals(right);

    /// <summary>The reference display form, e.g. <c>H(0, gen 0)</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"H({Index}, gen {Generation})");
}
