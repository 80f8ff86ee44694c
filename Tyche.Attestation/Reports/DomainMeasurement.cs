// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Tyche.Capabilities;

namespace Tyche.Attestation.Reports;

/// <summary>Read access to physical memory contents, for measurements. Implemented by the platform (or a test double).</summary>
public interface IPhysicalMemoryReader
{
    /// <summary>Copies <c>destination.Length</c> bytes starting at physical <paramref name="address"/>.</summary>
    /// <returns>False when part of the range is not backed by memory (nothing is guaranteed about <paramref name="destination"/>).</returns>
    bool TryRead(ulong address, Span<byte> destination);
}

/// <summary>
/// The domain measurement: SHA-256 over the HASH-flagged regions of a domain, then its configuration
/// (docs/attestation.md §Measurement). Compatible with tyche-devel's per-region layout
/// (<c>attestation_domain.rs</c>): for every Region capability with <see cref="MemoryOperations.Hash"/>, in
/// enumeration order: start (u64 LE), end (u64 LE), four bytes H, X, W, R (each 0 or 1), one byte "confidential"
/// (1 when the capability is unique, i.e. carved/exclusive), then the region's contents. Unlike tyche-devel it then
/// appends the configuration: permissions, trap bitmap and core bitmap (u64 LE each), which the reference leaves out.
/// </summary>
public sealed class DomainMeasurement : IDisposable
{
    private const int ChunkSize = 4096;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private bool _completed;

    /// <summary>Adds one HASH-flagged region (verifier side: from the domain's manifest).</summary>
    /// <param name="start">First address.</param>
    /// <param name="end">Address after the last.</param>
    /// <param name="operations">The region capability's operations (H, X, W, R are measured).</param>
    /// <param name="confidential">Whether the capability is unique (not shared or aliased).</param>
    /// <param name="contents">Exactly <c>end - start</c> bytes of contents.</param>
    public void AddRegion(ulong start, ulong end, MemoryOperations operations, bool confidential, ReadOnlySpan<byte> contents)
    {
        if (end <= start || (ulong)contents.Length != end - start) throw new ArgumentException("contents must be exactly end - start bytes", nameof(contents));
        AddHeader(start, end, operations, confidential);
        _hash.AppendData(contents);
    }

    private void AddHeader(ulong start, ulong end, MemoryOperations operations, bool confidential)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        Span<byte> header = stackalloc byte[21];
        BinaryPrimitives.WriteUInt64LittleEndian(header, start);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], end);
        header[16] = (operations & MemoryOperations.Hash) != 0 ? (byte)1 : (byte)0;
        header[17] = (operations & MemoryOperations.Execute) != 0 ? (byte)1 : (byte)0;
        header[18] = (operations & MemoryOperations.Write) != 0 ? (byte)1 : (byte)0;
        header[19] = (operations & MemoryOperations.Read) != 0 ? (byte)1 : (byte)0;
        header[20] = confidential ? (byte)1 : (byte)0;
        _hash.AppendData(header);
    }

    /// <summary>Appends the configuration and returns the measurement.</summary>
    public RegionHash Complete(DomainPermissions permissions, ulong traps, ulong coreMap)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        Span<byte> config = stackalloc byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(config, (ulong)permissions);
        BinaryPrimitives.WriteUInt64LittleEndian(config[8..], traps);
        BinaryPrimitives.WriteUInt64LittleEndian(config[16..], coreMap);
        _hash.AppendData(config);
        Span<byte> digest = stackalloc byte[RegionHash.Length];
        _hash.GetHashAndReset(digest);
        _completed = true;
        return new RegionHash(digest);
    }

    /// <summary>
    /// Measures a live domain from the engine (read-only) and the memory contents. Returns
    /// <see cref="CapabilityError.StaleDomain"/> for a dead handle and <see cref="CapabilityError.InvalidRegion"/> when
    /// memory cannot be read; the engine is never modified.
    /// </summary>
    public static CapabilityError TryMeasure(CapabilityEngine engine, DomainHandle domain, IPhysicalMemoryReader memory, out RegionHash measurement)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(memory);
        measurement = default;
        CapabilityError e = engine.TryGetDomainInfo(domain, out DomainInfo info);
        if (e != CapabilityError.Ok) return e;
        using var m = new DomainMeasurement();
        byte[] buffer = new byte[ChunkSize];
        int token = 0;
        while (engine.TryEnumerate(domain, ref token, out _, out CapabilityInfo capability))
        {
            if (capability.Kind != CapabilityKind.Region || (capability.Operations & MemoryOperations.Hash) == 0) continue;
            m.AddHeader(capability.Start, capability.End, capability.Operations, capability.Unique);
            for (ulong address = capability.Start; address < capability.End; address += ChunkSize)
            {
                int n = (int)Math.Min(ChunkSize, capability.End - address);
                if (!memory.TryRead(address, buffer.AsSpan(0, n))) return CapabilityError.InvalidRegion;
                m._hash.AppendData(buffer, 0, n);
            }
        }

        measurement = m.Complete(info.Permissions, info.Traps, info.CoreMap);
        return CapabilityError.Ok;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _completed = true;
        _hash.Dispose();
    }
}
