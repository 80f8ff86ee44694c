// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// An in-memory model of physical memory: a byte array of 4 KiB frames starting at <see cref="BaseAddress"/>. It serves tests and
/// samples as the <see cref="ITableMemory"/> backends write their tables to, as the <see cref="IFrameAllocator"/> of a reserved table
/// area, and as the <see cref="IMemoryCleaner"/> that executes cleanup (zeroing really zeroes; flushes are counted).
/// </summary>
/// <remarks>
/// Addresses outside <c>[BaseAddress, BaseAddress + Size)</c> are "not backed": table access there throws, cleanup ignores them. The
/// reserved table area is never cleaned (a monitor never gives its own table memory to a domain). Frames are zeroed when they are
/// freed, so a freshly allocated frame is all zeros.
/// </remarks>
public sealed class PhysicalMemory : IFrameAllocator, ITableMemory, IMemoryCleaner
{
    /// <summary>The size of a frame: 4 KiB (Intel SDM Vol. 3A §4.1; RISC-V privileged specification §4.3).</summary>
    public const int FrameSize = 4096;

    private const int FrameShift = 12;
    private const ulong EntryAlignmentMask = sizeof(ulong) - 1; // 8-byte table entries, naturally aligned
    private const ulong EntrySize = sizeof(ulong);
    private readonly byte[] _bytes;
    private readonly int[] _freeFrames;
    private readonly ulong _tableStart;
    private readonly int _tableFrameCount;
    private int _freeCount;

    /// <summary>Creates physical memory with a reserved table area served by the allocator.</summary>
    /// <param name="baseAddress">Physical address of the first byte (4 KiB aligned).</param>
    /// <param name="frameCount">Number of 4 KiB frames backed by the array.</param>
    /// <param name="tableAreaFirstFrame">Index (from <paramref name="baseAddress"/>) of the first frame reserved for tables.</param>
    /// <param name="tableFrameCount">Number of frames reserved for tables.</param>
    /// <exception cref="ArgumentException">The base is not frame aligned or the table area is not inside the memory.</exception>
    public PhysicalMemory(ulong baseAddress, int frameCount, int tableAreaFirstFrame, int tableFrameCount)
    {
        if ((baseAddress & (FrameSize - 1)) != 0)
        {
            throw new ArgumentException("The base address must be 4 KiB aligned.", nameof(baseAddress));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(frameCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(tableAreaFirstFrame);
        ArgumentOutOfRangeException.ThrowIfNegative(tableFrameCount);
        if ((long)tableAreaFirstFrame + tableFrameCount > frameCount)
        {
            throw new ArgumentException("The table area must lie inside the memory.", nameof(tableFrameCount));
        }

        BaseAddress = baseAddress;
        _bytes = new byte[(long)frameCount * FrameSize];
        _tableStart = baseAddress + ((ulong)tableAreaFirstFrame << FrameShift);
        _tableFrameCount = tableFrameCount;
        _freeFrames = new int[tableFrameCount];
        // Ascending addresses first: the stack pops from the end.
        for (int i = 0; i < tableFrameCount; i++)
        {
            _freeFrames[i] = tableFrameCount - 1 - i;
        }

        _freeCount = tableFrameCount;
    }

    /// <summary>Physical address of the first byte.</summary>
    public ulong BaseAddress { get; }

    /// <summary>Number of backed bytes.</summary>
    public ulong Size => (ulong)_bytes.LongLength;

    /// <summary>Physical address of the first table frame.</summary>
    public ulong TableAreaStart => _tableStart;

    /// <summary>Number of bytes in the table area.</summary>
    public ulong TableAreaSize => (ulong)_tableFrameCount << FrameShift;

    /// <inheritdoc />
    public int FreeFrameCount => _freeCount;

    /// <summary>Number of frames currently allocated.</summary>
    public int AllocatedFrameCount => _tableFrameCount - _freeCount;

    /// <summary>How many bytes cleanup has zeroed so far.</summary>
    public ulong ZeroedBytes { get; private set; }

    /// <summary>How many cache flushes cleanup has recorded (one per cleaned range with <see cref="CleanupPolicy.Flush"/>).</summary>
    public int FlushCount { get; private set; }

    /// <summary>The bytes of the reserved table area (for byte-exact comparisons in tests).</summary>
    public ReadOnlySpan<byte> TableAreaBytes => _bytes.AsSpan(checked((int)(_tableStart - BaseAddress)), _tableFrameCount * FrameSize);

    /// <summary>All backed bytes.</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>The 4 096 bytes of the frame at <paramref name="physicalAddress"/>.</summary>
    /// <param name="physicalAddress">A 4 KiB-aligned backed address.</param>
    /// <returns>The frame's bytes.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The address is not a backed frame address.</exception>
    public Span<byte> GetFrame(ulong physicalAddress)
    {
        if ((physicalAddress & (FrameSize - 1)) != 0 || physicalAddress < BaseAddress || physicalAddress - BaseAddress >= Size)
        {
            throw new ArgumentOutOfRangeException(nameof(physicalAddress), physicalAddress, "Not a backed frame address.");
        }

        return _bytes.AsSpan(checked((int)(physicalAddress - BaseAddress)), FrameSize);
    }

    /// <summary>Whether <paramref name="physicalAddress"/> is inside the reserved table area.</summary>
    /// <param name="physicalAddress">An address.</param>
    /// <returns><see langword="true"/> for table-area addresses.</returns>
    public bool IsTableAddress(ulong physicalAddress) => physicalAddress >= _tableStart && physicalAddress - _tableStart < TableAreaSize;

    /// <inheritdoc />
    public bool TryAllocate(out ulong physicalAddress)
    {
        if (_freeCount == 0)
        {
            physicalAddress = 0;
            return false;
        }

        int frame = _freeFrames[--_freeCount];
        physicalAddress = _tableStart + ((ulong)frame << FrameShift);
        return true;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">The address is not a table frame or the frame is already free.</exception>
    public void Free(ulong physicalAddress)
    {
        if ((physicalAddress & (FrameSize - 1)) != 0 || !IsTableAddress(physicalAddress) || _freeCount == _tableFrameCount)
        {
            throw new ArgumentOutOfRangeException(nameof(physicalAddress), physicalAddress, "Not an allocated table frame.");
        }

        GetFrame(physicalAddress).Clear();
        _freeFrames[_freeCount++] = (int)((physicalAddress - _tableStart) >> FrameShift);
    }

    /// <inheritdoc />
    public ulong ReadEntry(ulong physicalAddress) => BinaryPrimitives.ReadUInt64LittleEndian(EntrySpan(physicalAddress));

    /// <inheritdoc />
    public void WriteEntry(ulong physicalAddress, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(EntrySpan(physicalAddress), value);

    /// <inheritdoc />
    public void Clean(ulong start, ulong end, CleanupPolicy policy)
    {
        if (end <= start)
        {
            return;
        }

        if ((policy & CleanupPolicy.Zero) != 0)
        {
            ZeroOutsideTables(start, end);
        }

        if ((policy & CleanupPolicy.Flush) != 0)
        {
            FlushCount++;
        }
    }

    private void ZeroOutsideTables(ulong start, ulong end)
    {
        ulong memEnd = BaseAddress + Size;
        ulong s = Math.Max(start, BaseAddress);
        ulong e = Math.Min(end, memEnd);
        if (s >= e)
        {
            return;
        }

        ulong tEnd = _tableStart + TableAreaSize;
        // Zero [s, e) minus [_tableStart, tEnd).
        ZeroSpan(s, Math.Min(e, _tableStart));
        ZeroSpan(Math.Max(s, tEnd), e);
    }

    private void ZeroSpan(ulong s, ulong e)
    {
        if (s >= e)
        {
            return;
        }

        _bytes.AsSpan(checked((int)(s - BaseAddress)), checked((int)(e - s))).Clear();
        ZeroedBytes += e - s;
    }

    private Span<byte> EntrySpan(ulong physicalAddress)
    {
        if ((physicalAddress & EntryAlignmentMask) != 0 || physicalAddress < BaseAddress || physicalAddress - BaseAddress > Size - EntrySize)
        {
            ThrowEntry(physicalAddress);
        }

        return _bytes.AsSpan((int)(physicalAddress - BaseAddress), (int)EntrySize);
    }

    private static void ThrowEntry(ulong physicalAddress) =>
        throw new ArgumentOutOfRangeException(nameof(physicalAddress), physicalAddress, "Not an aligned, backed 8-byte entry address.");
}
