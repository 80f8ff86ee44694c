// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// A reusable, pre-sized list of <see cref="MonitorAction"/>s. Backends append to it; the owner clears and reuses it, so once it has
/// reached its working size no operation allocates. It grows (doubling) only when an operation produces more actions than ever before.
/// </summary>
public sealed class MonitorActionList
{
    private MonitorAction[] _items;

    /// <summary>Creates a list with room for <paramref name="capacity"/> actions.</summary>
    /// <param name="capacity">Initial capacity (at least 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than 1.</exception>
    public MonitorActionList(int capacity = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _items = new MonitorAction[capacity];
    }

    /// <summary>Number of actions in the list.</summary>
    public int Count { get; private set; }

    /// <summary>Current capacity.</summary>
    public int Capacity => _items.Length;

    /// <summary>The action at <paramref name="index"/>.</summary>
    /// <param name="index">Index, 0 to <see cref="Count"/> − 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is out of range.</exception>
    public ref readonly MonitorAction this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count)
            {
                ThrowIndex();
            }

            return ref _items[index];
        }
    }

    /// <summary>The actions as a span (valid until the next mutation).</summary>
    public ReadOnlySpan<MonitorAction> AsSpan() => _items.AsSpan(0, Count);

    /// <summary>Appends an action.</summary>
    /// <param name="action">The action.</param>
    public void Add(in MonitorAction action)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[Count++] = action;
    }

    /// <summary>Removes every action (keeps the capacity).</summary>
    public void Clear() => Count = 0;

    /// <summary>Drops the actions at index <paramref name="count"/> and after (used to undo a backend's contribution).</summary>
    /// <param name="count">The new count, 0 to <see cref="Count"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is out of range.</exception>
    public void Truncate(int count)
    {
        if ((uint)count > (uint)Count)
        {
            ThrowIndex();
        }

        Count = count;
    }

    /// <summary>Counts the actions of one kind.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>How many actions of that kind the list holds.</returns>
    public int CountOf(MonitorActionKind kind)
    {
        int n = 0;
        foreach (ref readonly MonitorAction a in AsSpan())
        {
            if (a.Kind == kind)
            {
                n++;
            }
        }

        return n;
    }

    private static void ThrowIndex() => throw new ArgumentOutOfRangeException("index");
}
