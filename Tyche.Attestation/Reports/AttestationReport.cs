// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Formats.Cbor;
using System.Linq;
using Tyche.Capabilities;

namespace Tyche.Attestation.Reports;

/// <summary>Whether a report describes one domain or a composition (a set of domains).</summary>
public enum ReportKind
{
    /// <summary>A single domain.</summary>
    Domain = 1,
    /// <summary>A set of domains, reported together so that their sharing relations are consistent.</summary>
    Composition = 2,
}

/// <summary>The monitor's identity as measured into the TPM (docs/report.cddl <c>monitor</c>).</summary>
/// <param name="ImageDigest">SHA-256 of the monitor image.</param>
/// <param name="KeyDigest">SHA-256 of the monitor attestation key's SubjectPublicKeyInfo.</param>
/// <param name="Pcr">The PCR both were extended into.</param>
public sealed record MonitorIdentity(byte[] ImageDigest, byte[] KeyDigest, int Pcr);

/// <summary>A range of a domain's memory over which its rights and the sharing are constant.</summary>
/// <param name="Start">First address.</param>
/// <param name="End">Address after the last.</param>
/// <param name="Rights">The domain's access rights (RWXS).</param>
/// <param name="ReferenceCount">System-wide number of domains that can access the range.</param>
/// <param name="SharedWith">Ids of the other domains that can access it, ascending.</param>
public sealed record ReportedRange(ulong Start, ulong End, MemoryOperations Rights, int ReferenceCount, ulong[] SharedWith);

/// <summary>A core a domain may run on.</summary>
/// <param name="Core">The core index.</param>
/// <param name="Exclusive">Whether no other live domain may run on it.</param>
public readonly record struct ReportedCore(int Core, bool Exclusive);

/// <summary>One domain in a report.</summary>
public sealed record ReportedDomain
{
    /// <summary>The monitor's domain id.</summary>
    public required ulong Id { get; init; }
    /// <summary>Whether the domain is sealed (its configuration can no longer change).</summary>
    public required bool Sealed { get; init; }
    /// <summary>Whether it is an I/O domain.</summary>
    public required bool IsIo { get; init; }
    /// <summary>The SHA-256 measurement (see <see cref="DomainMeasurement"/>), or null when none is available.</summary>
    public required byte[]? Measurement { get; init; }
    /// <summary>Monitor-interface permission bitmap.</summary>
    public required DomainPermissions Permissions { get; init; }
    /// <summary>Trap bitmap.</summary>
    public required ulong Traps { get; init; }
    /// <summary>Core bitmap.</summary>
    public required ulong CoreMap { get; init; }
    /// <summary>Memory ranges in address order.</summary>
    public required ReportedRange[] Memory { get; init; }
    /// <summary>Cores in ascending order.</summary>
    public required ReportedCore[] Cores { get; init; }
    /// <summary>Devices the domain owns, ascending.</summary>
    public required DeviceId[] Devices { get; init; }
}

/// <summary>Why a report failed to decode.</summary>
public enum ReportDecodeError
{
    /// <summary>Decoded.</summary>
    None,
    /// <summary>Not well-formed or not canonical CBOR (including truncation).</summary>
    InvalidCbor,
    /// <summary>Well-formed CBOR that does not follow docs/report.cddl (missing, extra or misordered keys, wrong types or values).</summary>
    SchemaViolation,
    /// <summary>Bytes follow the report.</summary>
    TrailingBytes,
    /// <summary>An unsupported report version.</summary>
    UnsupportedVersion,
}

/// <summary>
/// A domain or composition report (tier 2), encoded as canonical CBOR following docs/report.cddl: maps with small
/// unsigned keys in ascending order, definite lengths, shortest integer forms. Encoding is deterministic, so
/// encode(decode(x)) == x for every accepted input.
/// </summary>
public sealed record AttestationReport
{
    /// <summary>The only version this library writes and accepts.</summary>
    public const int CurrentVersion = 1;

    private const int MaxDomains = 1024;
    private const int MaxItems = 65536;
    private const int DigestLength = 32;

    /// <summary>Report format version.</summary>
    public int Version { get; init; } = CurrentVersion;
    /// <summary>Domain or composition.</summary>
    public required ReportKind Kind { get; init; }
    /// <summary>The verifier's nonce.</summary>
    public required byte[] Nonce { get; init; }
    /// <summary>The monitor identity.</summary>
    public required MonitorIdentity Monitor { get; init; }
    /// <summary>The reported domains in ascending id order.</summary>
    public required ReportedDomain[] Domains { get; init; }

    /// <summary>Encodes the report as canonical CBOR.</summary>
    public byte[] Encode()
    {
        var w = new CborWriter(CborConformanceMode.Ctap2Canonical);
        w.WriteStartMap(5);
        w.WriteInt32(1); w.WriteInt32(Version);
        w.WriteInt32(2); w.WriteInt32((int)Kind);
        w.WriteInt32(3); w.WriteByteString(Nonce);
        w.WriteInt32(4);
        w.WriteStartMap(3);
        w.WriteInt32(1); w.WriteByteString(Monitor.ImageDigest);
        w.WriteInt32(2); w.WriteByteString(Monitor.KeyDigest);
        w.WriteInt32(3); w.WriteInt32(Monitor.Pcr);
        w.WriteEndMap();
        w.WriteInt32(5);
        w.WriteStartArray(Domains.Length);
        foreach (ReportedDomain d in Domains) WriteDomain(w, d);
        w.WriteEndArray();
        w.WriteEndMap();
        return w.Encode();
    }

    private static void WriteDomain(CborWriter w, ReportedDomain d)
    {
        w.WriteStartMap(10);
        w.WriteInt32(1); w.WriteUInt64(d.Id);
        w.WriteInt32(2); w.WriteBoolean(d.Sealed);
        w.WriteInt32(3); w.WriteBoolean(d.IsIo);
        w.WriteInt32(4);
        if (d.Measurement is null) w.WriteNull(); else w.WriteByteString(d.Measurement);
        w.WriteInt32(5); w.WriteUInt64((ulong)d.Permissions);
        w.WriteInt32(6); w.WriteUInt64(d.Traps);
        w.WriteInt32(7); w.WriteUInt64(d.CoreMap);
        w.WriteInt32(8);
        w.WriteStartArray(d.Memory.Length);
        foreach (ReportedRange r in d.Memory)
        {
            w.WriteStartArray(5);
            w.WriteUInt64(r.Start);
            w.WriteUInt64(r.End);
            w.WriteUInt32((uint)r.Rights);
            w.WriteUInt32((uint)r.ReferenceCount);
            w.WriteStartArray(r.SharedWith.Length);
            foreach (ulong p in r.SharedWith) w.WriteUInt64(p);
            w.WriteEndArray();
            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteInt32(9);
        w.WriteStartArray(d.Cores.Length);
        foreach (ReportedCore c in d.Cores)
        {
            w.WriteStartArray(2);
            w.WriteUInt32((uint)c.Core);
            w.WriteBoolean(c.Exclusive);
            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteInt32(10);
        w.WriteStartArray(d.Devices.Length);
        foreach (DeviceId dev in d.Devices)
        {
            w.WriteUInt32(((uint)dev.Segment << 16) | dev.RequesterId);
        }

        w.WriteEndArray();
        w.WriteEndMap();
    }

    /// <summary>
    /// Decodes a report strictly: canonical CBOR, exactly the keys of docs/report.cddl in order, digests of 32 bytes,
    /// ranges non-empty and ascending, reference counts consistent with the sharing lists. Never throws.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out AttestationReport? report, out int consumed) =>
        TryDecode(data, out report, out consumed, out _);

    /// <summary>As <see cref="TryDecode(ReadOnlySpan{byte}, out AttestationReport?, out int)"/>, with the reason.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out AttestationReport? report, out int consumed, out ReportDecodeError error)
    {
        report = null;
        consumed = 0;
        // CborReader needs ReadOnlyMemory; copying is the price of a span-based public contract.
        var reader = new CborReader(data.ToArray(), CborConformanceMode.Ctap2Canonical, allowMultipleRootLevelValues: true);
        try
        {
            error = ReadReport(reader, out report);
            if (error != ReportDecodeError.None)
            {
                report = null;
                return false;
            }

            consumed = data.Length - reader.BytesRemaining;
            if (reader.BytesRemaining != 0)
            {
                report = null;
                error = ReportDecodeError.TrailingBytes;
                return false;
            }

            return true;
        }
        catch (CborContentException)
        {
            error = ReportDecodeError.InvalidCbor;
        }
        catch (InvalidOperationException)
        {
            // Wrong major type at this position, or a structural violation detected by the reader.
            error = ReportDecodeError.SchemaViolation;
        }
        catch (OverflowException)
        {
            error = ReportDecodeError.SchemaViolation;
        }

        report = null;
        return false;
    }

    private static bool Key(CborReader r, int expected) => r.PeekState() == CborReaderState.UnsignedInteger && r.ReadUInt64() == (ulong)expected;

    private static ReportDecodeError ReadReport(CborReader r, out AttestationReport? report)
    {
        report = null;
        if (r.ReadStartMap() != 5 || !Key(r, 1)) return ReportDecodeError.SchemaViolation;
        ulong version = r.ReadUInt64();
        if (version != CurrentVersion) return ReportDecodeError.UnsupportedVersion;
        if (!Key(r, 2)) return ReportDecodeError.SchemaViolation;
        ulong kind = r.ReadUInt64();
        if (kind is not (1 or 2) || !Key(r, 3)) return ReportDecodeError.SchemaViolation;
        byte[] nonce = r.ReadByteString();
        if (nonce.Length is 0 or > 64 || !Key(r, 4)) return ReportDecodeError.SchemaViolation;
        if (r.ReadStartMap() != 3 || !Key(r, 1)) return ReportDecodeError.SchemaViolation;
        byte[] image = r.ReadByteString();
        if (!Key(r, 2)) return ReportDecodeError.SchemaViolation;
        byte[] key = r.ReadByteString();
        if (!Key(r, 3)) return ReportDecodeError.SchemaViolation;
        ulong pcr = r.ReadUInt64();
        r.ReadEndMap();
        if (image.Length != DigestLength || key.Length != DigestLength || pcr >= 24 || !Key(r, 5)) return ReportDecodeError.SchemaViolation;
        int? count = r.ReadStartArray();
        if (count is null or 0 or > MaxDomains) return ReportDecodeError.SchemaViolation;
        if (kind == (ulong)ReportKind.Domain && count != 1) return ReportDecodeError.SchemaViolation;
        var domains = new ReportedDomain[count.Value];
        for (int i = 0; i < domains.Length; i++)
        {
            ReportDecodeError e = ReadDomain(r, out ReportedDomain? d);
            if (e != ReportDecodeError.None) return e;
            if (i > 0 && d!.Id <= domains[i - 1].Id) return ReportDecodeError.SchemaViolation;
            domains[i] = d!;
        }

        r.ReadEndArray();
        r.ReadEndMap();
        report = new AttestationReport
        {
            Version = (int)version, Kind = (ReportKind)kind, Nonce = nonce,
            Monitor = new MonitorIdentity(image, key, (int)pcr), Domains = domains,
        };
        return ReportDecodeError.None;
    }

    private static ReportDecodeError ReadDomain(CborReader r, out ReportedDomain? domain)
    {
        domain = null;
        if (r.ReadStartMap() != 10 || !Key(r, 1)) return ReportDecodeError.SchemaViolation;
        ulong id = r.ReadUInt64();
        if (!Key(r, 2)) return ReportDecodeError.SchemaViolation;
        bool sealedFlag = r.ReadBoolean();
        if (!Key(r, 3)) return ReportDecodeError.SchemaViolation;
        bool io = r.ReadBoolean();
        if (!Key(r, 4)) return ReportDecodeError.SchemaViolation;
        byte[]? measurement = null;
        if (r.PeekState() == CborReaderState.Null) r.ReadNull();
        else
        {
            measurement = r.ReadByteString();
            if (measurement.Length != DigestLength) return ReportDecodeError.SchemaViolation;
        }

        if (!Key(r, 5)) return ReportDecodeError.SchemaViolation;
        ulong permissions = r.ReadUInt64();
        if ((permissions & ~(ulong)DomainPermissions.All) != 0 || !Key(r, 6)) return ReportDecodeError.SchemaViolation;
        ulong traps = r.ReadUInt64();
        if (!Key(r, 7)) return ReportDecodeError.SchemaViolation;
        ulong coreMap = r.ReadUInt64();
        if (!Key(r, 8)) return ReportDecodeError.SchemaViolation;
        int? ranges = r.ReadStartArray();
        if (ranges is null or > MaxItems) return ReportDecodeError.SchemaViolation;
        var memory = new ReportedRange[ranges.Value];
        ulong previousEnd = 0;
        for (int i = 0; i < memory.Length; i++)
        {
            if (r.ReadStartArray() != 5) return ReportDecodeError.SchemaViolation;
            ulong start = r.ReadUInt64();
            ulong end = r.ReadUInt64();
            ulong rights = r.ReadUInt64();
            ulong refCount = r.ReadUInt64();
            int? partners = r.ReadStartArray();
            if (partners is null || partners > MaxDomains || end <= start || start < previousEnd ||
                (rights & ~(ulong)MemoryOperations.Rights) != 0 || rights == 0 ||
                refCount != (ulong)partners + 1)
            {
                return ReportDecodeError.SchemaViolation;
            }

            ulong[] shared = new ulong[partners.Value];
            for (int p = 0; p < shared.Length; p++)
            {
                shared[p] = r.ReadUInt64();
                if ((p > 0 && shared[p] <= shared[p - 1]) || shared[p] == id) return ReportDecodeError.SchemaViolation;
            }

            r.ReadEndArray();
            r.ReadEndArray();
            memory[i] = new ReportedRange(start, end, (MemoryOperations)rights, (int)refCount, shared);
            previousEnd = end;
        }

        r.ReadEndArray();
        if (!Key(r, 9)) return ReportDecodeError.SchemaViolation;
        int? cores = r.ReadStartArray();
        if (cores is null or > 64) return ReportDecodeError.SchemaViolation;
        var coreList = new ReportedCore[cores.Value];
        ulong seenCores = 0;
        for (int i = 0; i < coreList.Length; i++)
        {
            if (r.ReadStartArray() != 2) return ReportDecodeError.SchemaViolation;
            ulong core = r.ReadUInt64();
            bool exclusive = r.ReadBoolean();
            r.ReadEndArray();
            if (core >= 64 || (i > 0 && (int)core <= coreList[i - 1].Core)) return ReportDecodeError.SchemaViolation;
            seenCores |= 1ul << (int)core;
            coreList[i] = new ReportedCore((int)core, exclusive);
        }

        r.ReadEndArray();
        if (seenCores != coreMap) return ReportDecodeError.SchemaViolation;
        if (!Key(r, 10)) return ReportDecodeError.SchemaViolation;
        int? devices = r.ReadStartArray();
        if (devices is null or > MaxItems) return ReportDecodeError.SchemaViolation;
        var deviceList = new DeviceId[devices.Value];
        for (int i = 0; i < deviceList.Length; i++)
        {
            ulong packed = r.ReadUInt64();
            if (packed > uint.MaxValue) return ReportDecodeError.SchemaViolation;
            // segment(16) | bus(8) | device(5) | function(3): PCI requester id (PCI Express Base §2.2.6.2).
            var dev = new DeviceId((ushort)(packed >> 16), (byte)(packed >> 8), (byte)((packed >> 3) & 0x1F), (byte)(packed & 0x7));
            if (i > 0 && dev.CompareTo(deviceList[i - 1]) <= 0) return ReportDecodeError.SchemaViolation;
            deviceList[i] = dev;
        }

        r.ReadEndArray();
        r.ReadEndMap();
        domain = new ReportedDomain
        {
            Id = id, Sealed = sealedFlag, IsIo = io, Measurement = measurement, Permissions = (DomainPermissions)permissions,
            Traps = traps, CoreMap = coreMap, Memory = memory, Cores = coreList, Devices = deviceList,
        };
        return ReportDecodeError.None;
    }

    /// <summary>The domain with the given id, or null.</summary>
    public ReportedDomain? FindDomain(ulong id) => Domains.FirstOrDefault(d => d.Id == id);

    /// <summary>Structural equality through the canonical encoding.</summary>
    public bool SameEncodingAs(AttestationReport other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Encode().AsSpan().SequenceEqual(other.Encode());
    }

    internal static IEnumerable<ulong> Ids(IEnumerable<ReportedDomain> domains) => domains.Select(d => d.Id);
}
