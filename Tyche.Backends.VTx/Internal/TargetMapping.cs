// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.VTx.Internal;

/// <summary>One piece of an address space's intended contents: guest <c>[Gpa, Gpa + Size)</c> → host <c>Hpa</c> with leaf attribute bits.</summary>
internal struct TargetMapping
{
    public ulong Gpa;
    public ulong Hpa;
    public ulong Size;
    public ulong Attributes;

    public readonly ulong GpaEnd => Gpa + Size;
}

/// <summary>A growable list of <see cref="TargetMapping"/>s sorted by guest address; adjacent compatible pieces coalesce.</summary>
internal sealed class MappingBuffer
{
    public TargetMapping[] Items = new TargetMapping[16];
    public int Count;

    public ReadOnlySpan<TargetMapping> Span => Items.AsSpan(0, Count);

    public void Clear() => Count = 0;

    /// <summary>Makes room for <paramref name="count"/> pieces so that <see cref="AddWithinCapacity"/> never grows.</summary>
    public void EnsureCapacity(int count)
    {
        if (Items.Length < count)
        {
            Array.Resize(ref Items, Math.Max(count, Items.Length * 2));
        }
    }

    /// <summary><see cref="Add"/> when <see cref="EnsureCapacity"/> already covers every piece that will be added.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void AddWithinCapacity(ulong gpa, ulong hpa, ulong size, ulong attributes)
    {
        ref TargetMapping first = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Items);
        int n = Count;
        if (n > 0)
        {
            ref TargetMapping last = ref System.Runtime.CompilerServices.Unsafe.Add(ref first, n - 1);
            if (last.GpaEnd == gpa && last.Hpa + last.Size == hpa && last.Attributes == attributes)
            {
                last.Size += size;
                return;
            }
        }

        ref TargetMapping slot = ref System.Runtime.CompilerServices.Unsafe.Add(ref first, n);
        slot.Gpa = gpa;
        slot.Hpa = hpa;
        slot.Size = size;
        slot.Attributes = attributes;
        Count = n + 1;
    }

    public void Add(ulong gpa, ulong hpa, ulong size, ulong attributes)
    {
        if (Count > 0)
        {
            ref TargetMapping last = ref Items[Count - 1];
            if (last.GpaEnd == gpa && last.Hpa + last.Size == hpa && last.Attributes == attributes)
            {
                last.Size += size;
                return;
            }
        }

        if (Count == Items.Length)
        {
            Array.Resize(ref Items, Items.Length * 2);
        }

        Items[Count++] = new TargetMapping { Gpa = gpa, Hpa = hpa, Size = size, Attributes = attributes };
    }
}

/// <summary>One 4-level table hierarchy (an EPT or a VT-d second-level table) and its current and saved intended contents.</summary>
internal sealed class AddressSpace
{
    public readonly MappingBuffer[] Buffers = [new(), new(), new()];
    public ulong Root;
    public int Current;
    public long Stamp = -1;
    public ulong SavedRoot;
    public int SavedCurrent;

    public MappingBuffer CurrentBuffer => Buffers[Current];

    /// <summary>Reuses this object for a new, empty table rooted at <paramref name="root"/> (buffers keep their capacity).</summary>
    public void Reset(ulong root)
    {
        Root = root;
        Current = 0;
        Stamp = -1;
        foreach (MappingBuffer b in Buffers)
        {
            b.Clear();
        }
    }

    /// <summary>A buffer that is neither the current one nor the one saved for rollback in this transaction.</summary>
    public int SpareIndex(bool saved)
    {
        for (int i = 0; i < Buffers.Length; i++)
        {
            if (i != Current && (!saved || i != SavedCurrent))
            {
                return i;
            }
        }

        return -1;
    }
}
