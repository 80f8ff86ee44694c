// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Backends.VTx.Internal;

/// <summary>
/// Incremental editing of a 4-level table: set a guest range to one mapping (or to nothing), using the largest leaves that the guest
/// address, host address and length allow, splitting large leaves that a change cuts and merging tables that became uniform.
/// Work is proportional to the entries changed, not to the size of the address space.
/// </summary>
internal static class PageTableEditor<TFormat>
    where TFormat : struct, IEntryFormat
{
    // Bit 7 is the page-size bit in both EPT (SDM Vol. 3C Tables 29-2/29-4) and VT-d second-level entries (VT-d §9.8).
    private const ulong LargeBit = EptEntry.LargePage;

    /// <summary>Maps guest <c>[start, end)</c> to host <paramref name="hpa"/>.. with <paramref name="attributes"/> (0 = unmap).</summary>
    /// <returns><see langword="false"/> when the frame allocator ran dry (the journal then holds the partial work to roll back).</returns>
    public static bool Set(in TFormat format, TableJournal journal, ulong root, ulong start, ulong end, ulong hpa, ulong attributes) =>
        SetLevel(format, journal, root, PagingLevels.FourLevels, 0, start, end, hpa, attributes);

    /// <summary>Releases every table reachable from <paramref name="table"/> (a table of level <paramref name="level"/>), and the table itself.</summary>
    public static void ReleaseTree(in TFormat format, TableJournal journal, ulong table, int level)
    {
        if (level > 1)
        {
            for (int i = 0; i < PagingLevels.EntriesPerTable; i++)
            {
                ulong e = journal.Read(table + ((ulong)i * PagingLevels.EntrySize));
                if ((e & format.PresentMask) != 0 && (e & LargeBit) == 0)
                {
                    ReleaseTree(format, journal, e & format.AddressMask, level - 1);
                }
            }
        }

        journal.Release(table);
    }

    private static ulong Leaf(in TFormat format, ulong hpa, ulong attributes, int level) =>
        (hpa & format.AddressMask) | attributes | (level > 1 ? LargeBit : 0);

    private static bool IsTable(in TFormat format, ulong entry, int level) =>
        level > 1 && (entry & format.PresentMask) != 0 && (entry & LargeBit) == 0;

    private static void WriteEntry(in TFormat format, TableJournal journal, ulong address, ulong old, ulong value, ulong gpa, int level)
    {
        if (old == value)
        {
            return;
        }

        if (format.NeedsInvalidation(old, value))
        {
            journal.MarkInvalidation(gpa, gpa + PagingLevels.EntrySpan(level));
        }

        journal.Write(address, value);
    }

    private static bool SetLevel(in TFormat format, TableJournal journal, ulong table, int level, ulong tableBase,
        ulong start, ulong end, ulong hpa, ulong attributes)
    {
        ulong span = PagingLevels.EntrySpan(level);
        int first = (int)((start - tableBase) / span);
        int last = (int)((end - 1 - tableBase) / span);
        for (int idx = first; idx <= last; idx++)
        {
            ulong es = tableBase + ((ulong)idx * span);
            ulong a = Math.Max(start, es);
            ulong b = Math.Min(end, es + span);
            ulong hpaA = hpa + (a - start);
            ulong entryAddress = table + ((ulong)idx * PagingLevels.EntrySize);
            ulong old = journal.Read(entryAddress);
            bool full = a == es && b == es + span;
            if (full && (attributes == 0 || (format.LeafAllowed(level) && (hpaA & (span - 1)) == 0)))
            {
                ulong value = attributes == 0 ? 0 : Leaf(format, hpaA, attributes, level);
                if (IsTable(format, old, level))
                {
                    ReleaseTree(format, journal, old & format.AddressMask, level - 1);
                }

                WriteEntry(format, journal, entryAddress, old, value, es, level);
                continue;
            }

            ulong sub;
            if ((old & format.PresentMask) == 0)
            {
                if (attributes == 0)
                {
                    continue;
                }

                if (!journal.TryAllocate(out sub))
                {
                    return false;
                }

                WriteEntry(format, journal, entryAddress, old, format.NonLeaf(sub), es, level);
            }
            else if ((old & LargeBit) != 0)
            {
                // Split: a table of next-level leaves equivalent to the large leaf, then edit inside it.
                if (!journal.TryAllocate(out sub))
                {
                    return false;
                }

                ulong childSpan = PagingLevels.EntrySpan(level - 1);
                ulong baseHpa = old & format.AddressMask;
                ulong attr = old & format.AttributeMask;
                for (int i = 0; i < PagingLevels.EntriesPerTable; i++)
                {
                    journal.Write(sub + ((ulong)i * PagingLevels.EntrySize), Leaf(format, baseHpa + ((ulong)i * childSpan), attr, level - 1));
                }

                WriteEntry(format, journal, entryAddress, old, format.NonLeaf(sub), es, level);
            }
            else
            {
                sub = old & format.AddressMask;
            }

            if (!SetLevel(format, journal, sub, level - 1, es, a, b, hpaA, attributes))
            {
                return false;
            }

            Collapse(format, journal, entryAddress, sub, level, es);
        }

        return true;
    }

    /// <summary>After editing inside <paramref name="sub"/>: remove it if empty, or replace it by one large leaf if it became uniform.</summary>
    private static void Collapse(in TFormat format, TableJournal journal, ulong entryAddress, ulong sub, int level, ulong es)
    {
        ulong firstEntry = journal.Read(sub);
        ulong current = journal.Read(entryAddress);
        if (firstEntry == 0)
        {
            for (int i = 1; i < PagingLevels.EntriesPerTable; i++)
            {
                if (journal.Read(sub + ((ulong)i * PagingLevels.EntrySize)) != 0)
                {
                    return;
                }
            }

            WriteEntry(format, journal, entryAddress, current, 0, es, level);
            journal.Release(sub);
            return;
        }

        if (!format.LeafAllowed(level) || (firstEntry & format.PresentMask) == 0 || IsTable(format, firstEntry, level - 1))
        {
            return;
        }

        ulong span = PagingLevels.EntrySpan(level);
        ulong childSpan = PagingLevels.EntrySpan(level - 1);
        ulong baseHpa = firstEntry & format.AddressMask;
        ulong attr = firstEntry & format.AttributeMask;
        if ((baseHpa & (span - 1)) != 0)
        {
            return;
        }

        for (int i = 1; i < PagingLevels.EntriesPerTable; i++)
        {
            ulong e = journal.Read(sub + ((ulong)i * PagingLevels.EntrySize));
            if (e != Leaf(format, baseHpa + ((ulong)i * childSpan), attr, level - 1))
            {
                return;
            }
        }

        WriteEntry(format, journal, entryAddress, current, Leaf(format, baseHpa, attr, level), es, level);
        journal.Release(sub);
    }
}
