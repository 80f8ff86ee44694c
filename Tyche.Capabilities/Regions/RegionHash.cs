// SPDX-License-Identifier: Apache-2.0
using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Tyche.Capabilities;

/// <summary>A 32-byte SHA-256 digest stored inline (no allocation), e.g. the hash attached by <c>send_with_hash</c>.</summary>
public struct RegionHash : IEquatable<RegionHash>
{
    private Bytes32 _bytes;

    /// <summary>Creates a digest from exactly 32 bytes.</summary>
    /// <param name="digest">The digest bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="digest"/> is not 32 bytes long.</exception>
    public RegionHash(ReadOnlySpan<byte> digest)
    {
        if (digest.Length != Length)
        {
            throw new ArgumentException("A region hash is exactly 32 bytes (SHA-256).", nameof(digest));
        }

        digest.CopyTo(_bytes);
    }

    /// <summary>The digest length in bytes.</summary>
    public const int Length = 32;

    /// <summary>Creates a digest whose 32 bytes all equal <paramref name="value"/> (the scenario language's form).</summary>
    /// <param name="value">The byte to repeat.</param>
    /// <returns>The digest.</returns>
    public static RegionHash Filled(byte value)
    {
        RegionHash hash = default;
        ((Span<byte>)hash._bytes).Fill(value);
        return hash;
    }

    /// <summary>The digest bytes.</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> Bytes => _bytes;

    /// <inheritdoc />
    public readonly bool Equals(RegionHash other) => ((ReadOnlySpan<byte>)_bytes).SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override readonly bool Equals(object? obj) => obj is RegionHash other && Equals(other);

    /// <inheritdoc />
    public override readonly int GetHashCode() => BitConverter.ToInt32(_bytes);

    /// <summary>Compares two digests.</summary>
    public static bool operator ==(RegionHash left, RegionHash right) => left.Equals(right);

    /// <summary>Compares two digests.</summary>
    public static bool operator !=(RegionHash left, RegionHash right) => !left.Equals(right);

    /// <summary>Lower-case hex.</summary>
    public override readonly string ToString() => Convert.ToHexStringLower(_bytes);

    [InlineArray(Length)]
    private struct Bytes32
    {
        private byte _element0;
    }
}
