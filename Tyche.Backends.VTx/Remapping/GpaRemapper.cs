// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.Text;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx;

/// <summary>A remapping segment: host-physical <c>[Hpa, Hpa + Size)</c> appears at guest-physical <c>Gpa</c>, <c>Repeat</c> times in a row (reference <c>Segment</c>).</summary>
/// <param name="Hpa">First host-physical byte.</param>
/// <param name="Gpa">First guest-physical byte.</param>
/// <param name="Size">Bytes per repetition.</param>
/// <param name="Repeat">Number of consecutive guest copies (the guest span is <c>Size * Repeat</c>).</param>
public readonly record struct RemapSegment(ulong Hpa, ulong Gpa, ulong Size, ulong Repeat)
{
    /// <summary>One past the last host-physical byte.</summary>
    public ulong HpaEnd => Hpa + Size;

    /// <summary>One past the last guest-physical byte of all repetitions.</summary>
    public ulong GpaEnd => Gpa + (Size * Repeat);

    /// <summary>Whether the host-physical ranges of the two segments share a byte (the reference <c>overlap</c> helper, without its size bug).</summary>
    /// <param name="other">The other segment.</param>
    /// <returns><see langword="true"/> on overlap.</returns>
    public bool OverlapsHpa(in RemapSegment other) => other.Hpa < HpaEnd && Hpa < other.HpaEnd;

    /// <summary>The reference display <c>[0x10, 0x30 at 0x100, rep 2]</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[0x{Hpa:x}, 0x{HpaEnd:x} at 0x{Gpa:x}, rep {Repeat}]");
}

/// <summary>One output of <see cref="GpaRemapper.TryRemap"/>: host range <c>[Hpa, Hpa + Size)</c> mapped at <c>Gpa</c> (<c>Repeat</c> copies) with rights (reference <c>Mapping</c>).</summary>
/// <param name="Hpa">First host-physical byte.</param>
/// <param name="Gpa">First guest-physical byte.</param>
/// <param name="Size">Bytes.</param>
/// <param name="Repeat">Guest copies, each <c>Size</c> bytes after the previous.</param>
/// <param name="Operations">The permission range's rights.</param>
public readonly record struct GuestMapping(ulong Hpa, ulong Gpa, ulong Size, ulong Repeat, MemoryOperations Operations)
{
    /// <summary>The reference display <c>[0x10, 0x20 at 0x110, rep 1 | RWXS]</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[0x{Hpa:x}, 0x{Hpa + Size:x} at 0x{Gpa:x}, rep {Repeat} | {MemoryOperationsFormat.Rights(Operations)}]");
}

/// <summary>
/// Per-domain guest-physical → host-physical remapping (port of the reference <c>remapper.rs</c>, notes §2.7). Host ranges that no
/// segment covers are identity-mapped; covered ones appear once per covering segment at the translated guest address.
/// Fixed capacity, no allocation after construction.
/// </summary>
public sealed class GpaRemapper
{
    private readonly RemapSegment[] _segments;
    private int _count;

    /// <summary>Creates an empty remapper.</summary>
    /// <param name="capacity">Maximum number of segments.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is less than 1.</exception>
    public GpaRemapper(int capacity = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _segments = new RemapSegment[capacity];
    }

    /// <summary>The segments, sorted by host address (insertion order among equal host addresses).</summary>
    public ReadOnlySpan<RemapSegment> Segments => _segments.AsSpan(0, _count);

    /// <summary>Number of segments.</summary>
    public int Count => _count;

    /// <summary>Whether no segment exists (everything is identity-mapped).</summary>
    public bool IsIdentity => _count == 0;

    /// <summary>
    /// Adds a segment (reference <c>map_range</c>). Refused with <see cref="CapabilityError.AlreadyAliased"/> when the new guest span's first
    /// or last byte falls inside an existing segment's guest span — or, unlike the reference, when the new span contains an existing one.
    /// </summary>
    /// <param name="hpa">First host-physical byte.</param>
    /// <param name="gpa">First guest-physical byte.</param>
    /// <param name="size">Bytes per repetition (&gt; 0).</param>
    /// <param name="repeat">Repetitions (&gt; 0).</param>
    /// <returns><see cref="CapabilityError.Ok"/>, <see cref="CapabilityError.AlreadyAliased"/>, <see cref="CapabilityError.InvalidValue"/> (zero size/repeat, overflow) or <see cref="CapabilityError.OutOfMemory"/>.</returns>
    public CapabilityError TryMapRange(ulong hpa, ulong gpa, ulong size, ulong repeat)
    {
        if (size == 0 || repeat == 0 || hpa + size < hpa || size > ulong.MaxValue / repeat || gpa + (size * repeat) < gpa)
        {
            return CapabilityError.InvalidValue;
        }

        var segment = new RemapSegment(hpa, gpa, size, repeat);
        foreach (ref readonly RemapSegment s in Segments)
        {
            if (segment.Gpa < s.GpaEnd && s.Gpa < segment.GpaEnd)
            {
                return CapabilityError.AlreadyAliased;
            }
        }

        if (_count == _segments.Length)
        {
            return CapabilityError.OutOfMemory;
        }

        int at = _count;
        while (at > 0 && _segments[at - 1].Hpa > hpa)
        {
            at--;
        }

        Array.Copy(_segments, at, _segments, at + 1, _count - at);
        _segments[at] = segment;
        _count++;
        return CapabilityError.Ok;
    }

    /// <summary>
    /// Removes host range <c>[hpa, hpa + size)</c> from every segment (reference <c>unmap_range</c>): contained segments are removed, a strict
    /// inner range splits a segment in two, head/tail overlaps trim it (guest address adjusted so the remaining bytes keep their guest address).
    /// </summary>
    /// <param name="hpa">First host byte.</param>
    /// <param name="size">Bytes.</param>
    /// <returns><see cref="CapabilityError.Ok"/>; <see cref="CapabilityError.InvalidOperation"/> for a partial overlap of a repeated segment;
    /// <see cref="CapabilityError.OutOfMemory"/> when a split needs a slot; nothing changes on error.</returns>
    public CapabilityError TryUnmapRange(ulong hpa, ulong size)
    {
        ulong end = hpa + size;
        CapabilityError check = CheckUnmap(hpa, end, guest: false);
        if (check != CapabilityError.Ok)
        {
            return check;
        }

        int i = 0;
        while (i < _count)
        {
            RemapSegment s = _segments[i];
            if (!(s.Hpa < end && hpa < s.HpaEnd))
            {
                i++;
                continue;
            }

            if (hpa <= s.Hpa && end >= s.HpaEnd)
            {
                RemoveAt(i);
                continue;
            }

            if (hpa > s.Hpa && end < s.HpaEnd)
            {
                _segments[i] = s with { Size = hpa - s.Hpa };
                InsertSorted(new RemapSegment(end, s.Gpa + (end - s.Hpa), s.HpaEnd - end, 1));
                i++;
                continue;
            }

            if (hpa <= s.Hpa)
            {
                // Head overlap: keep [end, s.End).
                RemoveAt(i);
                InsertSorted(new RemapSegment(end, s.Gpa + (end - s.Hpa), s.HpaEnd - end, 1));
                continue;
            }

            // Tail overlap: keep [s.Hpa, hpa).
            _segments[i] = s with { Size = hpa - s.Hpa };
            i++;
        }

        return CapabilityError.Ok;
    }

    /// <summary>
    /// The validation shared by <see cref="TryUnmapRange"/> and <see cref="TryUnmapGpaRange"/>: a partial overlap of a repeated segment is
    /// refused, and every strict inner cut (which splits a segment in two) must find a free slot. Nothing is changed.
    /// </summary>
    /// <param name="start">First byte of the range to remove, in host or guest addresses.</param>
    /// <param name="end">One past the last byte.</param>
    /// <param name="guest">Compare with the segments' guest spans instead of their host spans.</param>
    private CapabilityError CheckUnmap(ulong start, ulong end, bool guest)
    {
        int splits = 0;
        foreach (ref readonly RemapSegment s in Segments)
        {
            ulong low = guest ? s.Gpa : s.Hpa;
            ulong high = guest ? s.GpaEnd : s.HpaEnd;
            if (low < end && start < high && !(start <= low && end >= high))
            {
                if (s.Repeat != 1)
                {
                    return CapabilityError.InvalidOperation;
                }

                if (start > low && end < high)
                {
                    splits++;
                }
            }
        }

        return _count + splits > _segments.Length ? CapabilityError.OutOfMemory : CapabilityError.Ok;
    }

    /// <summary>Removes guest range <c>[gpa, gpa + size)</c> from every segment (reference <c>unmap_gpa_range</c>).</summary>
    /// <param name="gpa">First guest byte.</param>
    /// <param name="size">Bytes.</param>
    /// <returns><see cref="CapabilityError.Ok"/>; <see cref="CapabilityError.InvalidOperation"/> for a partial overlap of a repeated segment (the reference asserts).</returns>
    public CapabilityError TryUnmapGpaRange(ulong gpa, ulong size)
    {
        ulong end = gpa + size;
        CapabilityError check = CheckUnmap(gpa, end, guest: true);
        if (check != CapabilityError.Ok)
        {
            return check;
        }

        // Translate to host ranges (repeat == 1 for every partial overlap) and reuse the host-side logic segment by segment.
        int i = 0;
        while (i < _count)
        {
            RemapSegment s = _segments[i];
            if (!(s.Gpa < end && gpa < s.GpaEnd))
            {
                i++;
                continue;
            }

            if (gpa <= s.Gpa && end >= s.GpaEnd)
            {
                RemoveAt(i);
                continue;
            }

            ulong cutStart = Math.Max(gpa, s.Gpa) - s.Gpa + s.Hpa;
            ulong cutEnd = Math.Min(end, s.GpaEnd) - s.Gpa + s.Hpa;
            RemoveAt(i);
            if (cutStart > s.Hpa)
            {
                InsertSorted(s with { Size = cutStart - s.Hpa });
            }

            if (cutEnd < s.HpaEnd)
            {
                InsertSorted(new RemapSegment(cutEnd, s.Gpa + (cutEnd - s.Hpa), s.HpaEnd - cutEnd, 1));
            }
        }

        return CapabilityError.Ok;
    }

    /// <summary>Removes every segment.</summary>
    public void Clear() => _count = 0;

    /// <summary>
    /// Merges a domain's permissions with the segments (reference <c>remap</c>): uncovered host pieces identity-mapped, covered ones once per
    /// covering segment, clipped to the permission ranges with their rights; ordered by the host address of the identity piece or segment.
    /// </summary>
    /// <param name="permissions">Sorted, disjoint permission ranges.</param>
    /// <param name="destination">Receives the mappings.</param>
    /// <param name="written">Mappings written, or the number needed when <paramref name="destination"/> is too small.</param>
    /// <returns><see langword="false"/> when <paramref name="destination"/> is too small.</returns>
    public bool TryRemap(ReadOnlySpan<MemoryPermission> permissions, Span<GuestMapping> destination, out int written)
    {
        int n = Remap(permissions, destination);
        written = n;
        return n <= destination.Length;
    }

    /// <summary>The mappings of a single segment over the permissions (reference <c>SingleSegmentIterator</c>).</summary>
    /// <param name="permissions">Sorted, disjoint permission ranges.</param>
    /// <param name="segment">The segment.</param>
    /// <param name="destination">Receives the mappings.</param>
    /// <returns>The number of mappings (written only as far as <paramref name="destination"/> has room).</returns>
    public static int MapSegment(ReadOnlySpan<MemoryPermission> permissions, in RemapSegment segment, Span<GuestMapping> destination) =>
        MapSegmentCore(permissions, segment, destination, expand: false);

    // expand: one mapping per repetition (Repeat = 1, guest address advanced by the segment size), as the page tables need them.
    private static int MapSegmentCore(ReadOnlySpan<MemoryPermission> permissions, in RemapSegment segment, Span<GuestMapping> destination, bool expand)
    {
        int n = 0;
        int first = FirstEndingAfter(permissions, segment.Hpa);
        for (int p = first; p < permissions.Length && permissions[p].Start < segment.HpaEnd; p++)
        {
            ulong s = Math.Max(permissions[p].Start, segment.Hpa);
            ulong e = Math.Min(permissions[p].End, segment.HpaEnd);
            if (s >= e)
            {
                continue;
            }

            if (!expand)
            {
                if (n < destination.Length)
                {
                    destination[n] = new GuestMapping(s, segment.Gpa + (s - segment.Hpa), e - s, segment.Repeat, permissions[p].Operations);
                }

                n++;
                continue;
            }

            for (ulong r = 0; r < segment.Repeat; r++)
            {
                if (n < destination.Length)
                {
                    destination[n] = new GuestMapping(s, segment.Gpa + (r * segment.Size) + (s - segment.Hpa), e - s, 1, permissions[p].Operations);
                }

                n++;
            }
        }

        return n;
    }

    /// <summary>The reference segment list display <c>{[0x10, 0x30 at 0x100, rep 2] -> …}</c>.</summary>
    /// <returns>The display.</returns>
    public string FormatSegments()
    {
        var sb = new StringBuilder("{");
        for (int i = 0; i < _count; i++)
        {
            sb.Append(i == 0 ? string.Empty : " -> ").Append(_segments[i].ToString());
        }

        return sb.Append('}').ToString();
    }

    /// <summary>The reference mapping list display <c>{[0x10, 0x20 at 0x10, rep 1 | RWXS] -> …}</c>.</summary>
    /// <param name="mappings">The mappings.</param>
    /// <returns>The display.</returns>
    public static string Format(ReadOnlySpan<GuestMapping> mappings)
    {
        var sb = new StringBuilder("{");
        for (int i = 0; i < mappings.Length; i++)
        {
            sb.Append(i == 0 ? string.Empty : " -> ").Append(mappings[i].ToString());
        }

        return sb.Append('}').ToString();
    }

    internal int Remap(ReadOnlySpan<MemoryPermission> permissions, Span<GuestMapping> destination, bool expand = false)
    {
        int n = 0;
        int k = 0;
        ReadOnlySpan<RemapSegment> segments = Segments;
        foreach (ref readonly MemoryPermission p in permissions)
        {
            if (p.Start >= p.End)
            {
                continue;
            }

            ulong cursor = p.Start;
            // Identity pieces of p: p minus the union of segment host ranges.
            for (int j = 0; j < segments.Length && segments[j].Hpa < p.End; j++)
            {
                ref readonly RemapSegment s = ref segments[j];
                if (s.HpaEnd <= cursor)
                {
                    continue;
                }

                if (s.Hpa > cursor)
                {
                    n = EmitIdentity(cursor, s.Hpa, p.Operations, segments, ref k, permissions, destination, n, expand);
                }

                cursor = Math.Max(cursor, s.HpaEnd);
                if (cursor >= p.End)
                {
                    break;
                }
            }

            if (cursor < p.End)
            {
                n = EmitIdentity(cursor, p.End, p.Operations, segments, ref k, permissions, destination, n, expand);
            }
        }

        for (; k < segments.Length; k++)
        {
            n += MapSegmentCore(permissions, segments[k], n < destination.Length ? destination[n..] : Span<GuestMapping>.Empty, expand);
        }

        return n;
    }

    private static int EmitIdentity(ulong start, ulong end, MemoryOperations ops, ReadOnlySpan<RemapSegment> segments, ref int k,
        ReadOnlySpan<MemoryPermission> permissions, Span<GuestMapping> destination, int n, bool expand)
    {
        // Segments whose host address comes first are emitted before this identity piece.
        for (; k < segments.Length && segments[k].Hpa < start; k++)
        {
            n += MapSegmentCore(permissions, segments[k], n < destination.Length ? destination[n..] : Span<GuestMapping>.Empty, expand);
        }

        if (n < destination.Length)
        {
            destination[n] = new GuestMapping(start, start, end - start, 1, ops);
        }

        return n + 1;
    }

    private static int FirstEndingAfter(ReadOnlySpan<MemoryPermission> permissions, ulong address)
    {
        int lo = 0;
        int hi = permissions.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (permissions[mid].End <= address)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private void RemoveAt(int i)
    {
        Array.Copy(_segments, i + 1, _segments, i, _count - i - 1);
        _count--;
    }

    private void InsertSorted(in RemapSegment segment)
    {
        int at = _count;
        while (at > 0 && _segments[at - 1].Hpa > segment.Hpa)
        {
            at--;
        }

        Array.Copy(_segments, at, _segments, at + 1, _count - at);
        _segments[at] = segment;
        _count++;
    }
}
