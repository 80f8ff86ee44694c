// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;

namespace Tyche.Capabilities;

/// <summary>Enumeration, trackers, the system-wide memory map and the attestation serialization.</summary>
public sealed partial class CapabilityEngine
{
    // Attestation serialization markers (reference serializer.rs, notes §5.2).
    private const byte SerRegionHeader = 0x01;
    private const byte SerDomainHeader = 0x02;
    private const byte SerDeviceHeader = 0x03;
    private const byte SerRoot = 0x80;
    private const byte SerAlias = 0x81;
    private const byte SerCarve = 0x82;
    private const byte SerNoHash = 0x84;
    private const byte SerHasHash = 0x85;
    private const byte SerCapaStart = 0x40;
    private const byte SerCapaEnd = 0x41;
    private const byte SerCapaRegion = 0x20;
    private const byte SerCapaDomain = 0x21;
    private const byte SerEnd = 0xFF;
    private const byte SerExtensionsEnd = 0x00;

    private CapabilityInfo InfoOf(int slot)
    {
        ref readonly CapSlot c = ref _capSlots[slot];
        switch (c.Kind)
        {
            case CapabilityKind.Region:
            {
                ref readonly RegionNode r = ref _regions[c.Target];
                return new CapabilityInfo(CapabilityKind.Region, r.Start, r.End, r.Ops, r.Confidential, r.FirstChild != NoSlot);
            }

            case CapabilityKind.RegionRevoke:
            {
                ref readonly RegionNode r = ref _regions[c.Target];
                return new CapabilityInfo(CapabilityKind.RegionRevoke, r.Start, r.End, r.Ops, r.Confidential);
            }

            case CapabilityKind.Management:
                return new CapabilityInfo(CapabilityKind.Management, domainId: _domains[c.Target].Id, isSealed: _domains[c.Target].Sealed);
            case CapabilityKind.Channel:
            case CapabilityKind.Switch:
                return new CapabilityInfo(c.Kind, domainId: _domains[c.Target].Id);
            case CapabilityKind.Device:
            case CapabilityKind.DeviceRevoke:
                return new CapabilityInfo(c.Kind, device: _devices[c.Target].Id);
            default:
                return new CapabilityInfo(CapabilityKind.None);
        }
    }

    private bool EnumerateCore(DomainHandle domain, ref int token, out LocalCapability index, out CapabilityInfo info)
    {
        index = default;
        info = default;
        if (!TryDomainIndex(domain, out int d) || token < 0)
        {
            return false;
        }

        int fresh = _domains[d].CapFresh;
        for (int local = token; local < fresh; local++)
        {
            int s = CapSlotIndex(d, local);
            if (!_capSlots[s].Allocated)
            {
                continue;
            }

            if (!IsCapValid(s))
            {
                FreeCap(d, local);
                continue;
            }

            index = local;
            info = InfoOf(s);
            token = local + 1;
            return true;
        }

        token = Math.Max(token, fresh);
        return false;
    }

    private CapabilityError GetCapabilityInfoCore(DomainHandle domain, LocalCapability capability, out CapabilityInfo info)
    {
        info = default;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        CapabilityError e = GetCap(d, capability, out int slot);
        if (e != CapabilityError.Ok)
        {
            return e;
        }

        if (!IsCapValid(slot))
        {
            return CapabilityError.InvalidCapa;
        }

        info = InfoOf(slot);
        return CapabilityError.Ok;
    }

    private int TrackerCount(DomainHandle domain) => TryDomainIndex(domain, out int d) ? _domains[d].TrackerNodes : 0;

    private CapabilityError GetPermissionsCore(DomainHandle domain, Span<MemoryPermission> destination, out int written)
    {
        written = 0;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (destination.Length < _domains[d].TrackerNodes)
        {
            return CapabilityError.OutOfMemory;
        }

        for (int t = _domains[d].TrackerHead; t != NoSlot; t = _tracker[t].Next)
        {
            ref readonly TrackerNode n = ref _tracker[t];
            destination[written++] = new MemoryPermission(n.Start, n.End, TrackerOps(n));
        }

        return CapabilityError.Ok;
    }

    private CapabilityError GetTrackerSegmentsCore(DomainHandle domain, Span<TrackerSegment> destination, out int written)
    {
        written = 0;
        if (!TryDomainIndex(domain, out int d))
        {
            return CapabilityError.StaleDomain;
        }

        if (destination.Length < _domains[d].TrackerNodes)
        {
            return CapabilityError.OutOfMemory;
        }

        for (int t = _domains[d].TrackerHead; t != NoSlot; t = _tracker[t].Next)
        {
            ref readonly TrackerNode n = ref _tracker[t];
            destination[written++] = new TrackerSegment(n.Start, n.End, n.Ref, n.Read, n.Write, n.Exec, n.Super);
        }

        return CapabilityError.Ok;
    }

    // ------------------------------------------------------------------ memory map

    /// <summary>The tracker node of a domain covering an address, or <see cref="NoSlot"/>.</summary>
    private int TrackerAt(int d, ulong address)
    {
        int t = TrackerFloor(d, address);
        return t != NoSlot && _tracker[t].End > address ? t : NoSlot;
    }

    /// <summary>The smallest tracker boundary of any live domain strictly above <paramref name="after"/>, or false.</summary>
    private bool NextBoundary(ulong after, bool inclusive, out ulong next)
    {
        bool found = false;
        next = ulong.MaxValue;
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            for (int t = _domains[d].TrackerHead; t != NoSlot; t = _tracker[t].Next)
            {
                ulong s = _tracker[t].Start;
                ulong e = _tracker[t].End;
                if ((s > after || (inclusive && s == after)) && (!found || s < next))
                {
                    next = s;
                    found = true;
                }

                if (e > after && (!found || e < next))
                {
                    next = e;
                    found = true;
                }
            }
        }

        return found;
    }

    /// <summary>Whether every live domain has the same access (presence and rights) at both addresses.</summary>
    private bool SameAccess(ulong a, ulong b, out int count)
    {
        count = 0;
        bool same = true;
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            int ta = TrackerAt(d, a);
            int tb = TrackerAt(d, b);
            if (tb != NoSlot)
            {
                count++;
            }

            if ((ta == NoSlot) != (tb == NoSlot) || (ta != NoSlot && TrackerOps(_tracker[ta]) != TrackerOps(_tracker[tb])))
            {
                same = false;
            }
        }

        return same;
    }

    /// <summary>Computes the memory map: O(boundaries × tracker nodes); allocation-free.</summary>
    private int MemoryMapCore(Span<MemoryMapSegment> destination, bool write, out int unused)
    {
        unused = 0;
        int n = 0;
        if (!NextBoundary(0, true, out ulong cur))
        {
            return 0;
        }

        bool open = false;
        ulong segStart = 0;
        int segCount = 0;
        while (NextBoundary(cur, false, out ulong next))
        {
            SameAccess(cur, cur, out int count);
            if (count == 0)
            {
                if (open)
                {
                    if (write)
                    {
                        destination[n] = new MemoryMapSegment(segStart, cur, segCount);
                    }

                    n++;
                    open = false;
                }
            }
            else if (!open)
            {
                open = true;
                segStart = cur;
                segCount = count;
            }
            else if (!SameAccess(segStart, cur, out _))
            {
                if (write)
                {
                    destination[n] = new MemoryMapSegment(segStart, cur, segCount);
                }

                n++;
                segStart = cur;
                segCount = count;
            }

            cur = next;
        }

        if (open)
        {
            if (write)
            {
                destination[n] = new MemoryMapSegment(segStart, cur, segCount);
            }

            n++;
        }

        return n;
    }

    private CapabilityError GetAccessorsCore(ulong address, Span<MemoryAccessor> destination, out int written)
    {
        written = 0;
        int needed = 0;
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (_domains[d].Live && TrackerAt(d, address) != NoSlot)
            {
                needed++;
            }
        }

        if (needed > destination.Length)
        {
            return CapabilityError.OutOfMemory;
        }

        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            int t = TrackerAt(d, address);
            if (t != NoSlot)
            {
                destination[written++] = new MemoryAccessor(HandleOf(d), TrackerOps(_tracker[t]));
            }
        }

        return CapabilityError.Ok;
    }

    // ------------------------------------------------------------------ attestation serialization

    private ref struct ByteWriter
    {
        private readonly Span<byte> _buffer;
        private readonly bool _write;

        public ByteWriter(Span<byte> buffer, bool write)
        {
            _buffer = buffer;
            _write = write;
            Length = 0;
        }

        public int Length;

        public void U8(byte value)
        {
            if (_write)
            {
                _buffer[Length] = value;
            }

            Length++;
        }

        public void U16(ushort value)
        {
            if (_write)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(_buffer[Length..], value);
            }

            Length += 2;
        }

        public void U32(uint value)
        {
            if (_write)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(_buffer[Length..], value);
            }

            Length += 4;
        }

        public void U64(ulong value)
        {
            if (_write)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(_buffer[Length..], value);
            }

            Length += 8;
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            if (_write)
            {
                value.CopyTo(_buffer[Length..]);
            }

            Length += value.Length;
        }
    }

    /// <summary>
    /// The reference "capa" format (notes §5.2) with the exact length, followed by an extension area: for engines with
    /// devices, <c>0x03</c>, then per device (creation order) <c>u16 segment, u16 requester id, u64 owner temporary id</c>,
    /// then <c>0xFF</c>; the extension area always ends with <c>0x00</c>. An engine without devices therefore produces
    /// the reference's bytes plus one zero byte, which is also the length the reference reports.
    /// </summary>
    private int SerializeCore(Span<byte> destination, bool write)
    {
        ByteWriter w = new(destination, write);
        w.U8((byte)'c');
        w.U8((byte)'a');
        w.U8((byte)'p');
        w.U8((byte)'a');
        w.U8(SerRegionHeader);
        int number = 0;
        for (int r = 0; r < _h.RegionFresh; r++)
        {
            if (_regions[r].Live && _regions[r].Kind == RegionRoot)
            {
                SerializeTree(ref w, r, -1, ref number);
            }
        }

        w.U8(SerEnd);
        w.U8(SerDomainHeader);
        for (int d = 0; d < _h.DomainFresh; d++)
        {
            if (!_domains[d].Live)
            {
                continue;
            }

            w.U64((ulong)TemporaryId(d));
            w.U64(_domains[d].Permissions);
            w.U8(SerCapaStart);
            int fresh = _domains[d].CapFresh;
            for (int local = 0; local < fresh; local++)
            {
                int s = CapSlotIndex(d, local);
                if (!_capSlots[s].Allocated || !IsCapValid(s))
                {
                    continue;
                }

                if (_capSlots[s].Kind == CapabilityKind.Region)
                {
                    w.U8(SerCapaRegion);
                    w.U64((ulong)RegionPreorderNumber(_capSlots[s].Target));
                }
                else if (_capSlots[s].Kind == CapabilityKind.Management)
                {
                    w.U8(SerCapaDomain);
                    w.U64((ulong)TemporaryId(_capSlots[s].Target));
                }
            }

            w.U8(SerCapaEnd);
        }

        w.U8(SerEnd);
        w.U8(SerEnd);
        if (_h.DeviceCount > 0)
        {
            w.U8(SerDeviceHeader);
            for (int i = 0; i < _h.DeviceCount; i++)
            {
                w.U16(_devices[i].Id.Segment);
                w.U16(_devices[i].Id.RequesterId);
                w.U64((ulong)TemporaryId(_devices[i].Owner));
            }

            w.U8(SerEnd);
        }

        w.U8(SerExtensionsEnd);
        return w.Length;
    }

    private void SerializeTree(ref ByteWriter w, int r, int parentNumber, ref int number)
    {
        int mine = number++;
        ref readonly RegionNode n = ref _regions[r];
        w.U8(n.Kind == RegionRoot ? SerRoot : n.Kind == RegionAlias ? SerAlias : SerCarve);
        if (n.Kind != RegionRoot)
        {
            w.U32((uint)parentNumber);
        }

        w.U8((byte)n.Ops);
        w.U64(n.Start);
        w.U64(n.End);
        if (n.HasHash)
        {
            w.U8(SerHasHash);
            w.U64(RegionHash.Length);
            w.Bytes(_hashes[r].Bytes);
        }
        else
        {
            w.U8(SerNoHash);
        }

        for (int c = n.FirstChild; c != NoSlot; c = _regions[c].NextSibling)
        {
            SerializeTree(ref w, c, mine, ref number);
        }
    }

    private int TemporaryId(int domain)
    {
        int id = 0;
        for (int d = 0; d < domain; d++)
        {
            if (_domains[d].Live)
            {
                id++;
            }
        }

        return id;
    }

    /// <summary>The pre-order number of a region across all trees (roots in slot order).</summary>
    private int RegionPreorderNumber(int region)
    {
        int root = region;
        while (_regions[root].Parent != NoSlot)
        {
            root = _regions[root].Parent;
        }

        int number = 0;
        for (int r = 0; r < root; r++)
        {
            if (_regions[r].Live && _regions[r].Kind == RegionRoot)
            {
                number += SubtreeSize(r);
            }
        }

        return number + PreorderWithin(root, region);
    }

    private int SubtreeSize(int r)
    {
        int n = 1;
        for (int c = _regions[r].FirstChild; c != NoSlot; c = _regions[c].NextSibling)
        {
            n += SubtreeSize(c);
        }

        return n;
    }

    private int PreorderWithin(int root, int target)
    {
        if (root == target)
        {
            return 0;
        }

        int offset = 1;
        for (int c = _regions[root].FirstChild; c != NoSlot; c = _regions[c].NextSibling)
        {
            if (IsInSubtree(c, target))
            {
                return offset + PreorderWithin(c, target);
            }

            offset += SubtreeSize(c);
        }

        return offset;
    }

    private bool IsInSubtree(int root, int target)
    {
        int cur = target;
        while (cur != NoSlot)
        {
            if (cur == root)
            {
                return true;
            }

            cur = _regions[cur].Parent;
        }

        return false;
    }
}
