// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;

namespace Tyche.Attestation.Tpm;

/// <summary>
/// Big-endian TPM 2.0 marshaller (TPM 2.0 Library Part 1 §18: all integers big-endian; TPM2B = UINT16 size + bytes).
/// </summary>
internal sealed class TpmWriter
{
    private byte[] _buffer;
    private int _length;

    public TpmWriter(int capacity = 256) => _buffer = new byte[capacity];

    public int Length => _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    private Span<byte> Grow(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        }

        Span<byte> s = _buffer.AsSpan(_length, count);
        _length += count;
        return s;
    }

    public TpmWriter U8(byte value)
    {
        Grow(1)[0] = value;
        return this;
    }

    public TpmWriter U16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(Grow(2), value);
        return this;
    }

    public TpmWriter U32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(Grow(4), value);
        return this;
    }

    public TpmWriter U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(Grow(8), value);
        return this;
    }

    public TpmWriter Bytes(ReadOnlySpan<byte> data)
    {
        data.CopyTo(Grow(data.Length));
        return this;
    }

    /// <summary>Writes a TPM2B: UINT16 size then the bytes.</summary>
    public TpmWriter B2(ReadOnlySpan<byte> data)
    {
        if (data.Length > ushort.MaxValue) throw new ArgumentException("TPM2B payload exceeds 65535 bytes.", nameof(data));
        U16((ushort)data.Length);
        return Bytes(data);
    }

    /// <summary>Patches a big-endian UINT32 at <paramref name="offset"/>.</summary>
    public void PatchU32(int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(offset, 4), value);
}

/// <summary>
/// Bounds-checked big-endian reader. A read past the end sets <see cref="Ok"/> to false and returns zeros, so parsers
/// read a whole structure and test <see cref="Ok"/> once; no exception is thrown for malformed input.
/// </summary>
internal ref struct TpmReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;
    private bool _failed;

    public TpmReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
        _failed = false;
    }

    public readonly bool Ok => !_failed;

    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public readonly bool AtEnd => _position == _data.Length;

    public void Fail() => _failed = true;

    public ReadOnlySpan<byte> Take(int count)
    {
        if (_failed || count < 0 || count > _data.Length - _position)
        {
            _failed = true;
            return ReadOnlySpan<byte>.Empty;
        }

        ReadOnlySpan<byte> s = _data.Slice(_position, count);
        _position += count;
        return s;
    }

    public byte U8()
    {
        ReadOnlySpan<byte> s = Take(1);
        return s.Length == 1 ? s[0] : (byte)0;
    }

    public ushort U16()
    {
        ReadOnlySpan<byte> s = Take(2);
        return s.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(s) : (ushort)0;
    }

    public uint U32()
    {
        ReadOnlySpan<byte> s = Take(4);
        return s.Length == 4 ? BinaryPrimitives.ReadUInt32BigEndian(s) : 0u;
    }

    public ulong U64()
    {
        ReadOnlySpan<byte> s = Take(8);
        return s.Length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(s) : 0ul;
    }

    /// <summary>Reads a TPM2B and rejects a size above <paramref name="maxSize"/>.</summary>
    public ReadOnlySpan<byte> B2(int maxSize = ushort.MaxValue)
    {
        ushort size = U16();
        if (size > maxSize)
        {
            _failed = true;
            return ReadOnlySpan<byte>.Empty;
        }

        return Take(size);
    }
}
