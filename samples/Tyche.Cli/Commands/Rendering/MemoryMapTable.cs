// SPDX-License-Identifier: Apache-2.0
using System.Globalization;
using System.Text;
using Tyche.Capabilities;

namespace Tyche.Cli.Rendering;

/// <summary>The memory map as a table for people (Figure 4 of the HotOS paper): ranges, reference counts, who holds what.</summary>
internal static class MemoryMapTable
{
    /// <summary>Formats the snapshot's memory map.</summary>
    /// <param name="snapshot">The snapshot.</param>
    /// <returns>The table, one line per segment after a header.</returns>
    public static string Format(SystemSnapshot snapshot)
    {
        StringBuilder text = new();
        text.Append(CultureInfo.InvariantCulture, $"{"range",-42} {"size",9}  {"refs",4}  domains (rights)\n");
        foreach (MemorySegmentView segment in snapshot.Memory)
        {
            StringBuilder who = new();
            foreach ((DomainHandle domain, MemoryOperations rights) in segment.Accessors)
            {
                if (who.Length > 0)
                {
                    who.Append(", ");
                }

                who.Append(snapshot.NameOf(domain)).Append(" (").Append(MemoryOperationsFormat.Rights(rights)).Append(')');
            }

            text.Append(CultureInfo.InvariantCulture,
                $"{Range(segment.Start, segment.End),-42} {Size(segment.End - segment.Start),9}  {segment.ReferenceCount,4}  {who}\n");
        }

        return text.ToString();
    }

    /// <summary>A half-open range in fixed-width hex.</summary>
    /// <param name="start">First byte.</param>
    /// <param name="end">One past the last byte.</param>
    /// <returns>E.g. <c>[0x0000000000100000, 0x0000000000200000)</c>.</returns>
    public static string Range(ulong start, ulong end) => string.Create(CultureInfo.InvariantCulture, $"[0x{start:x16}, 0x{end:x16})");

    /// <summary>A byte count in the largest binary unit that divides it.</summary>
    /// <param name="bytes">The size.</param>
    /// <returns>E.g. <c>4 KiB</c>, <c>2 MiB</c>, <c>100 B</c>.</returns>
    public static string Size(ulong bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        int unit = 0;
        while (unit < units.Length - 1 && bytes >= 1024 && bytes % 1024 == 0)
        {
            bytes /= 1024;
            unit++;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{bytes} {units[unit]}");
    }
}
