// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.Remapping;

/// <summary>The reference remapper's unit tests (notes tyche-capa-engine.md §6.2, <c>remapper.rs</c>) with the same expected strings.</summary>
public sealed class GpaRemapperTests
{
    private const MemoryOperations All = MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute | MemoryOperations.Super;

    private static MemoryPermission P(ulong start, ulong end, MemoryOperations ops = All) => new(start, end, ops);

    private static string RemapText(GpaRemapper remapper, List<MemoryPermission> permissions)
    {
        var buffer = new GuestMapping[64];
        Assert.True(remapper.TryRemap(permissions.ToArray(), buffer, out int n));
        return GpaRemapper.Format(buffer.AsSpan(0, n));
    }

    [Fact]
    public void Overlap()
    {
        var s = new RemapSegment(20, 0, 10, 1);
        foreach ((ulong hpa, ulong size) in new[] { (15UL, 10UL), (25UL, 10UL), (20UL, 10UL), (22UL, 6UL), (18UL, 14UL) })
        {
            Assert.True(s.OverlapsHpa(new RemapSegment(hpa, 0, size, 1)), $"({hpa}, {size})");
        }

        foreach ((ulong hpa, ulong size) in new[] { (10UL, 5UL), (10UL, 10UL), (35UL, 10UL), (30UL, 10UL) })
        {
            Assert.False(s.OverlapsHpa(new RemapSegment(hpa, 0, size, 1)), $"({hpa}, {size})");
        }
    }

    [Fact]
    public void Remap()
    {
        var r = new GpaRemapper();
        var perms = new List<MemoryPermission> { P(0x10, 0x20) };
        Assert.Equal("{[0x10, 0x20 at 0x10, rep 1 | RWXS]}", RemapText(r, perms));

        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x10, 0x110, 0x10, 1));
        Assert.Equal("{[0x10, 0x20 at 0x110, rep 1 | RWXS]}", RemapText(r, perms));

        perms.Add(P(0x30, 0x40));
        perms.Add(P(0x40, 0x50, MemoryOperations.Read));
        Assert.Equal("{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x40 at 0x30, rep 1 | RWXS] -> [0x40, 0x50 at 0x40, rep 1 | R___]}", RemapText(r, perms));

        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x30, 0x130, 0x8, 1));
        Assert.Equal(
            "{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x38 at 0x130, rep 1 | RWXS] -> [0x38, 0x40 at 0x38, rep 1 | RWXS] -> [0x40, 0x50 at 0x40, rep 1 | R___]}",
            RemapText(r, perms));

        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x38, 0x238, 0x8, 1));
        Assert.Equal(
            "{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x38 at 0x130, rep 1 | RWXS] -> [0x38, 0x40 at 0x238, rep 1 | RWXS] -> [0x40, 0x50 at 0x40, rep 1 | R___]}",
            RemapText(r, perms));

        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x40, 0x140, 0x10, 3));
        Assert.Equal(
            "{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x38 at 0x130, rep 1 | RWXS] -> [0x38, 0x40 at 0x238, rep 1 | RWXS] -> [0x40, 0x50 at 0x140, rep 3 | R___]}",
            RemapText(r, perms));

        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x38, 0x8));
        Assert.Equal(
            "{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x38 at 0x130, rep 1 | RWXS] -> [0x38, 0x40 at 0x38, rep 1 | RWXS] -> [0x40, 0x50 at 0x140, rep 3 | R___]}",
            RemapText(r, perms));
        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x30, 0x8));
        Assert.Equal("{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x40 at 0x30, rep 1 | RWXS] -> [0x40, 0x50 at 0x140, rep 3 | R___]}", RemapText(r, perms));

        perms.RemoveAt(2);
        Assert.Equal("{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x40 at 0x30, rep 1 | RWXS]}", RemapText(r, perms));
        Assert.Equal("{[0x10, 0x20 at 0x110, rep 1] -> [0x40, 0x50 at 0x140, rep 3]}", r.FormatSegments());

        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x40, 0x10));
        Assert.Equal("{[0x10, 0x20 at 0x110, rep 1 | RWXS] -> [0x30, 0x40 at 0x30, rep 1 | RWXS]}", RemapText(r, perms));
        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x10, 0x10));
        Assert.Equal("{[0x10, 0x20 at 0x10, rep 1 | RWXS] -> [0x30, 0x40 at 0x30, rep 1 | RWXS]}", RemapText(r, perms));
    }

    [Fact]
    public void CrossRegions()
    {
        var r = new GpaRemapper();
        var perms = new List<MemoryPermission> { P(0x10, 0x30), P(0x40, 0x60) };
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x20, 0x100, 0x100, 1));
        Assert.Equal("{[0x10, 0x20 at 0x10, rep 1 | RWXS] -> [0x20, 0x30 at 0x100, rep 1 | RWXS] -> [0x40, 0x60 at 0x120, rep 1 | RWXS]}", RemapText(r, perms));
    }

    [Fact]
    public void BackwardOverlap()
    {
        var r = new GpaRemapper();
        var perms = new List<MemoryPermission> { P(0x10, 0x30), P(0x30, 0x40) }; // ref counts 1 and 2 in the reference tracker
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x10, 0x100, 0x30, 1));
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x30, 0x50, 0x10, 1));
        Assert.Equal("{[0x10, 0x40 at 0x100, rep 1] -> [0x30, 0x40 at 0x50, rep 1]}", r.FormatSegments());
        Assert.Equal("{[0x10, 0x30 at 0x100, rep 1 | RWXS] -> [0x30, 0x40 at 0x120, rep 1 | RWXS] -> [0x30, 0x40 at 0x50, rep 1 | RWXS]}", RemapText(r, perms));
    }

    [Fact]
    public void ForwardOverlap()
    {
        var r = new GpaRemapper();
        var perms = new List<MemoryPermission> { P(0x10, 0x40) };
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x20, 0x100, 0x10, 1));
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x30, 0x200, 0x10, 1));
        Assert.Equal("{[0x10, 0x20 at 0x10, rep 1 | RWXS] -> [0x20, 0x30 at 0x100, rep 1 | RWXS] -> [0x30, 0x40 at 0x200, rep 1 | RWXS]}", RemapText(r, perms));
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x10, 0x300, 0x30, 1));
        Assert.Equal("{[0x10, 0x40 at 0x300, rep 1 | RWXS] -> [0x20, 0x30 at 0x100, rep 1 | RWXS] -> [0x30, 0x40 at 0x200, rep 1 | RWXS]}", RemapText(r, perms));
    }

    [Fact]
    public void UpdateRegion()
    {
        var r = new GpaRemapper();
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x10, 0x100, 0x50, 1));
        // The reference removes [0x10, 0x60) and re-adds three pieces; its tracker coalesces them back to one range.
        var perms = new List<MemoryPermission> { P(0x10, 0x60) };
        Assert.Equal("{[0x10, 0x60 at 0x100, rep 1 | RWXS]}", RemapText(r, perms));
    }

    [Fact]
    public void SplitRegion()
    {
        var r = new GpaRemapper();
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x12fcb6000, 0xfffc0000, 0x40000, 1));
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x12fcd6000, 0xe0000, 0x20000, 1));
        Assert.Equal("{[0x12fcb6000, 0x12fcf6000 at 0xfffc0000, rep 1] -> [0x12fcd6000, 0x12fcf6000 at 0xe0000, rep 1]}", r.FormatSegments());
        var perms = new List<MemoryPermission> { P(0x12fcb6000, 0x12fcd6000), P(0x12fcd6000, 0x12fcf6000) };
        Assert.Equal(
            "{[0x12fcb6000, 0x12fcd6000 at 0xfffc0000, rep 1 | RWXS] -> [0x12fcd6000, 0x12fcf6000 at 0xfffe0000, rep 1 | RWXS] -> [0x12fcd6000, 0x12fcf6000 at 0xe0000, rep 1 | RWXS]}",
            RemapText(r, perms));
    }

    [Fact]
    public void GpaOverlap()
    {
        var r = new GpaRemapper();
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x20, 0x200, 0x60, 1));
        Assert.Equal(CapabilityError.AlreadyAliased, r.TryMapRange(0x80, 0x220, 0x20, 1));
        Assert.Equal("{[0x20, 0x80 at 0x200, rep 1]}", r.FormatSegments());
        // Unlike the reference, a new span that strictly contains an existing one is refused too.
        Assert.Equal(CapabilityError.AlreadyAliased, r.TryMapRange(0x400, 0x100, 0x400, 1));
    }

    [Fact]
    public void DebugIterator()
    {
        var r = new GpaRemapper();
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x10, 0x100, 0x20, 2));
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x30, 0x200, 0x20, 1));
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x80, 0x300, 0x20, 1));
        Assert.Equal("{[0x10, 0x30 at 0x100, rep 2] -> [0x30, 0x50 at 0x200, rep 1] -> [0x80, 0xa0 at 0x300, rep 1]}", r.FormatSegments());
    }

    [Theory]
    [InlineData(0x10UL, 0x10UL, "{}")]
    [InlineData(0x70UL, 0x10UL, "{}")]
    [InlineData(0x20UL, 0x20UL, "{[0x30, 0x40 at 0x110, rep 1 | RWXS]}")]
    [InlineData(0x50UL, 0x20UL, "{[0x50, 0x60 at 0x100, rep 1 | RWXS]}")]
    [InlineData(0x40UL, 0x10UL, "{[0x40, 0x50 at 0x100, rep 1 | RWXS]}")]
    [InlineData(0x20UL, 0x50UL, "{[0x30, 0x60 at 0x110, rep 1 | RWXS]}")]
    public void SingleSegmentIterator(ulong hpa, ulong size, string expected)
    {
        var buffer = new GuestMapping[8];
        int n = GpaRemapper.MapSegment([P(0x30, 0x60)], new RemapSegment(hpa, 0x100, size, 1), buffer);
        Assert.Equal(expected, GpaRemapper.Format(buffer.AsSpan(0, n)));
    }

    [Fact]
    public void UnmapTrimsAndSplitsKeepingGuestAddresses()
    {
        var r = new GpaRemapper();
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x1000, 0x9000, 0x4000, 1));
        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x2000, 0x1000)); // punch a hole
        Assert.Equal("{[0x1000, 0x2000 at 0x9000, rep 1] -> [0x3000, 0x5000 at 0xb000, rep 1]}", r.FormatSegments());
        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x0, 0x1800)); // head trim: [0x1800, 0x2000) keeps guest 0x9800
        Assert.Equal(CapabilityError.Ok, r.TryUnmapRange(0x4800, 0x1000)); // tail trim
        Assert.Equal("{[0x1800, 0x2000 at 0x9800, rep 1] -> [0x3000, 0x4800 at 0xb000, rep 1]}", r.FormatSegments());
        Assert.Equal(CapabilityError.Ok, r.TryUnmapGpaRange(0xb000, 0x1000)); // guest-side head trim
        Assert.Equal("{[0x1800, 0x2000 at 0x9800, rep 1] -> [0x4000, 0x4800 at 0xc000, rep 1]}", r.FormatSegments());
        Assert.Equal(CapabilityError.Ok, r.TryUnmapGpaRange(0x9000, 0x4000));
        Assert.Equal("{}", r.FormatSegments());
        Assert.Equal(CapabilityError.Ok, r.TryMapRange(0x1000, 0x9000, 0x1000, 2));
        Assert.Equal(CapabilityError.InvalidOperation, r.TryUnmapRange(0x1000, 0x800)); // partial cut of a repeated segment
        Assert.Equal("{[0x1000, 0x2000 at 0x9000, rep 2]}", r.FormatSegments());
    }
}
