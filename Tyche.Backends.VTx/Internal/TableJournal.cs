// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Internal;

/// <summary>
/// Every table write, frame allocation and frame release of one backend transaction, so that a failure restores every table byte and
/// every frame, and a commit returns released frames to the allocator. Storage grows only past its previous maximum.
/// </summary>
internal sealed class TableJournal
{
    private const ulong PageMask = PhysicalMemory.FrameSize - 1;
    private readonly ITableMemory _memory;
    private readonly IFrameAllocator _allocator;
    private readonly HashSet<ulong> _dirtySet = new(256);
    private EntryUndo[] _undo = new EntryUndo[1024];
    private ulong[] _allocated = new ulong[64];
    private ulong[] _released = new ulong[64];
    private ulong[] _dirty = new ulong[64];
    private int _undoCount;
    private int _allocatedCount;
    private int _releasedCount;
    private int _dirtyCount;
    private int _sessionReleaseStart;

    public TableJournal(ITableMemory memory, IFrameAllocator allocator)
    {
        _memory = memory;
        _allocator = allocator;
    }

    /// <summary>Some entry change in this session requires a TLB/IOTLB invalidation (rights reduced, address or page size changed, entry removed).</summary>
    public bool NeedsInvalidation { get; set; }

    /// <summary>Some entry changed in this session (caching-mode VT-d invalidates even for not-present → present).</summary>
    public bool AnyChange { get; private set; }

    /// <summary>Lowest guest address whose translation needs invalidation in this session.</summary>
    public ulong InvalidationLow { get; private set; }

    /// <summary>One past the highest such address.</summary>
    public ulong InvalidationHigh { get; private set; }

    public int FreeFrames => _allocator.FreeFrameCount;

    public ulong Read(ulong address) => _memory.ReadEntry(address);

    public void Write(ulong address, ulong value)
    {
        ulong old = _memory.ReadEntry(address);
        if (old == value)
        {
            return;
        }

        if (_undoCount == _undo.Length)
        {
            Array.Resize(ref _undo, _undo.Length * 2);
        }

        _undo[_undoCount++] = new EntryUndo(address, old);
        _memory.WriteEntry(address, value);
        AnyChange = true;
        ulong page = address & ~PageMask;
        if (_dirtySet.Add(page))
        {
            Push(ref _dirty, ref _dirtyCount, page);
        }
    }

    public void MarkInvalidation(ulong low, ulong high)
    {
        if (!NeedsInvalidation)
        {
            NeedsInvalidation = true;
            InvalidationLow = low;
            InvalidationHigh = high;
            return;
        }

        InvalidationLow = Math.Min(InvalidationLow, low);
        InvalidationHigh = Math.Max(InvalidationHigh, high);
    }

    public bool TryAllocate(out ulong frame)
    {
        if (!_allocator.TryAllocate(out frame))
        {
            return false;
        }

        Push(ref _allocated, ref _allocatedCount, frame);
        return true;
    }

    /// <summary>Releases a frame at commit (after the invalidations the actions list before it).</summary>
    public void Release(ulong frame) => Push(ref _released, ref _releasedCount, frame);

    public void BeginSession()
    {
        _dirtySet.Clear();
        _dirtyCount = 0;
        _sessionReleaseStart = _releasedCount;
        NeedsInvalidation = false;
        AnyChange = false;
        InvalidationLow = 0;
        InvalidationHigh = 0;
    }

    /// <summary>Appends a <see cref="MonitorActionKind.WriteTablePage"/> for each page written in this session that is still in use.</summary>
    public void EmitWrites(MonitorActionList actions, DomainHandle domain)
    {
        for (int i = 0; i < _dirtyCount; i++)
        {
            ulong page = _dirty[i];
            if (!ReleasedInSession(page))
            {
                actions.Add(MonitorAction.WriteTablePage(domain, page));
            }
        }
    }

    /// <summary>Appends a <see cref="MonitorActionKind.ReleaseTablePage"/> for each frame released in this session.</summary>
    public void EmitReleases(MonitorActionList actions, DomainHandle domain)
    {
        for (int i = _sessionReleaseStart; i < _releasedCount; i++)
        {
            actions.Add(MonitorAction.ReleaseTablePage(domain, _released[i]));
        }
    }

    /// <summary>Number of pages written in this session (for tests and benchmarks).</summary>
    public int SessionDirtyCount => _dirtyCount;

    public void Commit()
    {
        for (int i = 0; i < _releasedCount; i++)
        {
            _allocator.Free(_released[i]);
        }

        Reset();
    }

    public void Rollback()
    {
        for (int i = _undoCount - 1; i >= 0; i--)
        {
            _memory.WriteEntry(_undo[i].Address, _undo[i].Old);
        }

        for (int i = _allocatedCount - 1; i >= 0; i--)
        {
            _allocator.Free(_allocated[i]);
        }

        Reset();
    }

    private void Reset()
    {
        _undoCount = 0;
        _allocatedCount = 0;
        _releasedCount = 0;
        _sessionReleaseStart = 0;
        _dirtyCount = 0;
        _dirtySet.Clear();
    }

    private bool ReleasedInSession(ulong page)
    {
        for (int i = _sessionReleaseStart; i < _releasedCount; i++)
        {
            if (_released[i] == page)
            {
                return true;
            }
        }

        return false;
    }

    private static void Push(ref ulong[] array, ref int count, ulong value)
    {
        if (count == array.Length)
        {
            Array.Resize(ref array, array.Length * 2);
        }

        array[count++] = value;
    }

    private readonly record struct EntryUndo(ulong Address, ulong Old);
}
