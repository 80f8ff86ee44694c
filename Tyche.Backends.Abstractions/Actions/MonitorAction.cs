// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// One thing a monitor must do after a backend applied engine updates: a table page written or released, an EPTP or CSR to load
/// on a set of cores, a TLB / IOTLB / context-cache invalidation with its exact scope, a cleanup, a fence.
/// A plain value created through the static factories; which fields are meaningful depends on <see cref="Kind"/>.
/// </summary>
public readonly struct MonitorAction : IEquatable<MonitorAction>
{
    private MonitorAction(MonitorActionKind kind, DomainHandle domain, ulong coreMap, ulong address, ulong end, ulong value, int register,
        InveptType inveptType, IotlbGranularity iotlb, ContextCacheGranularity contextCache, byte addressMask, ushort domainId,
        DeviceId device, CleanupPolicy policy, FenceKind fence)
    {
        Kind = kind;
        Domain = domain;
        CoreMap = coreMap;
        Address = address;
        End = end;
        Value = value;
        Register = register;
        InveptType = inveptType;
        IotlbGranularity = iotlb;
        ContextCacheGranularity = contextCache;
        AddressMask = addressMask;
        DomainId = domainId;
        Device = device;
        Policy = policy;
        Fence = fence;
    }

    /// <summary>The action kind.</summary>
    public MonitorActionKind Kind { get; }

    /// <summary>The engine domain concerned, or <see cref="DomainHandle.Invalid"/>.</summary>
    public DomainHandle Domain { get; }

    /// <summary>Bit <c>i</c> set: the action must be performed on core <c>i</c> (EPTP/CSR loads, INVEPT, fences).</summary>
    public ulong CoreMap { get; }

    /// <summary>Page address (table pages, page-selective IOTLB) or first byte (cleanup).</summary>
    public ulong Address { get; }

    /// <summary>Cleanup: one past the last byte.</summary>
    public ulong End { get; }

    /// <summary>EPTP (load and INVEPT descriptor) or CSR value.</summary>
    public ulong Value { get; }

    /// <summary>CSR number for <see cref="MonitorActionKind.LoadCsr"/>.</summary>
    public int Register { get; }

    /// <summary>INVEPT type for <see cref="MonitorActionKind.Invept"/>.</summary>
    public InveptType InveptType { get; }

    /// <summary>IOTLB granularity for <see cref="MonitorActionKind.IotlbInvalidate"/>.</summary>
    public IotlbGranularity IotlbGranularity { get; }

    /// <summary>Context-cache granularity for <see cref="MonitorActionKind.ContextCacheInvalidate"/>.</summary>
    public ContextCacheGranularity ContextCacheGranularity { get; }

    /// <summary>Page-selective IOTLB: the address mask AM (the request covers <c>2^AM</c> 4 KiB pages at <see cref="Address"/>).</summary>
    public byte AddressMask { get; }

    /// <summary>VT-d domain id of an IOTLB or context-cache invalidation.</summary>
    public ushort DomainId { get; }

    /// <summary>Device-selective context-cache invalidation: the PCI function (source id).</summary>
    public DeviceId Device { get; }

    /// <summary>Cleanup policy.</summary>
    public CleanupPolicy Policy { get; }

    /// <summary>Fence kind.</summary>
    public FenceKind Fence { get; }

    /// <summary>A table page was written.</summary>
    /// <param name="domain">The owning domain, or <see cref="DomainHandle.Invalid"/> for shared pages.</param>
    /// <param name="page">The 4 KiB-aligned physical address of the page.</param>
    public static MonitorAction WriteTablePage(DomainHandle domain, ulong page) =>
        new(MonitorActionKind.WriteTablePage, domain, 0, page, 0, 0, 0, 0, 0, 0, 0, 0, default, 0, 0);

    /// <summary>A table page went back to the allocator (after the invalidations listed before it).</summary>
    /// <param name="domain">The owning domain, or <see cref="DomainHandle.Invalid"/>.</param>
    /// <param name="page">The 4 KiB-aligned physical address of the page.</param>
    public static MonitorAction ReleaseTablePage(DomainHandle domain, ulong page) =>
        new(MonitorActionKind.ReleaseTablePage, domain, 0, page, 0, 0, 0, 0, 0, 0, 0, 0, default, 0, 0);

    /// <summary>Load an EPT pointer on a set of cores.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="eptp">The EPTP value.</param>
    /// <param name="coreMap">The cores.</param>
    public static MonitorAction LoadEptp(DomainHandle domain, ulong eptp, ulong coreMap) =>
        new(MonitorActionKind.LoadEptp, domain, coreMap, 0, 0, eptp, 0, 0, 0, 0, 0, 0, default, 0, 0);

    /// <summary>Write a CSR on a set of cores.</summary>
    /// <param name="domain">The domain the value belongs to.</param>
    /// <param name="register">The CSR number (e.g. <c>0x3A0</c> for pmpcfg0).</param>
    /// <param name="value">The value.</param>
    /// <param name="coreMap">The cores.</param>
    public static MonitorAction LoadCsr(DomainHandle domain, int register, ulong value, ulong coreMap) =>
        new(MonitorActionKind.LoadCsr, domain, coreMap, 0, 0, value, register, 0, 0, 0, 0, 0, default, 0, 0);

    /// <summary>Execute INVEPT on a set of cores.</summary>
    /// <param name="domain">The domain whose EPT changed.</param>
    /// <param name="type">The INVEPT type.</param>
    /// <param name="eptp">The EPTP placed in the INVEPT descriptor.</param>
    /// <param name="coreMap">The cores.</param>
    public static MonitorAction Invept(DomainHandle domain, InveptType type, ulong eptp, ulong coreMap) =>
        new(MonitorActionKind.Invept, domain, coreMap, 0, 0, eptp, 0, type, 0, 0, 0, 0, default, 0, 0);

    /// <summary>Invalidate the VT-d IOTLB.</summary>
    /// <param name="domain">The engine domain whose device tables changed.</param>
    /// <param name="granularity">Global, domain-selective or page-selective.</param>
    /// <param name="domainId">The VT-d domain id.</param>
    /// <param name="address">Page-selective: the <c>2^addressMask</c>-page aligned address.</param>
    /// <param name="addressMask">Page-selective: AM.</param>
    public static MonitorAction IotlbInvalidate(DomainHandle domain, IotlbGranularity granularity, ushort domainId, ulong address = 0, byte addressMask = 0) =>
        new(MonitorActionKind.IotlbInvalidate, domain, 0, address, 0, 0, 0, 0, granularity, 0, addressMask, domainId, default, 0, 0);

    /// <summary>Invalidate the VT-d context cache.</summary>
    /// <param name="granularity">Global, domain-selective or device-selective.</param>
    /// <param name="domainId">The domain id the context entry held before the change.</param>
    /// <param name="device">Device-selective: the source id.</param>
    public static MonitorAction ContextCacheInvalidate(ContextCacheGranularity granularity, ushort domainId, DeviceId device = default) =>
        new(MonitorActionKind.ContextCacheInvalidate, DomainHandle.Invalid, 0, 0, 0, 0, 0, 0, 0, granularity, 0, domainId, device, 0, 0);

    /// <summary>Flush the VT-d write buffer.</summary>
    public static MonitorAction WriteBufferFlush() =>
        new(MonitorActionKind.WriteBufferFlush, DomainHandle.Invalid, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, default, 0, 0);

    /// <summary>Clean a physical range.</summary>
    /// <param name="start">First byte.</param>
    /// <param name="end">One past the last byte.</param>
    /// <param name="policy">How to clean it.</param>
    public static MonitorAction Cleanup(ulong start, ulong end, CleanupPolicy policy) =>
        new(MonitorActionKind.Cleanup, DomainHandle.Invalid, 0, start, end, 0, 0, 0, 0, 0, 0, 0, default, policy, 0);

    /// <summary>A fence on a set of cores.</summary>
    /// <param name="domain">The domain concerned.</param>
    /// <param name="fence">The fence kind.</param>
    /// <param name="coreMap">The cores.</param>
    public static MonitorAction FenceOn(DomainHandle domain, FenceKind fence, ulong coreMap) =>
        new(MonitorActionKind.Fence, domain, coreMap, 0, 0, 0, 0, 0, 0, 0, 0, 0, default, 0, fence);

    /// <inheritdoc />
    public bool Equals(MonitorAction other) =>
        Kind == other.Kind && Domain == other.Domain && CoreMap == other.CoreMap && Address == other.Address && End == other.End
        && Value == other.Value && Register == other.Register && InveptType == other.InveptType && IotlbGranularity == other.IotlbGranularity
        && ContextCacheGranularity == other.ContextCacheGranularity && AddressMask == other.AddressMask && DomainId == other.DomainId
        && Device == other.Device && Policy == other.Policy && Fence == other.Fence;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is MonitorAction other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Domain, CoreMap, Address, Value, DomainId, Device);

    /// <summary>Compares two actions.</summary>
    public static bool operator ==(MonitorAction left, MonitorAction right) => left.Equals(right);

    /// <summary>Compares two actions.</summary>
    public static bool operator !=(MonitorAction left, MonitorAction right) => !left.Equals(right);

    /// <summary>A one-line display, e.g. <c>Invept(single-context, eptp 0x20001e, cores 0x3)</c>.</summary>
    public override string ToString() => Kind switch
    {
        MonitorActionKind.WriteTablePage => F($"WriteTablePage({Domain}, 0x{Address:x})"),
        MonitorActionKind.ReleaseTablePage => F($"ReleaseTablePage({Domain}, 0x{Address:x})"),
        MonitorActionKind.LoadEptp => F($"LoadEptp({Domain}, eptp 0x{Value:x}, cores 0x{CoreMap:x})"),
        MonitorActionKind.LoadCsr => F($"LoadCsr({Domain}, csr 0x{Register:x}, 0x{Value:x}, cores 0x{CoreMap:x})"),
        MonitorActionKind.Invept => F($"Invept({(InveptType == InveptType.SingleContext ? "single-context" : "all-context")}, eptp 0x{Value:x}, cores 0x{CoreMap:x})"),
        MonitorActionKind.IotlbInvalidate => IotlbGranularity == IotlbGranularity.PageSelective
            ? F($"IotlbInvalidate(page, did {DomainId}, 0x{Address:x}, am {AddressMask})")
            : F($"IotlbInvalidate({IotlbGranularity}, did {DomainId})"),
        MonitorActionKind.ContextCacheInvalidate => ContextCacheGranularity == ContextCacheGranularity.DeviceSelective
            ? F($"ContextCacheInvalidate(device, did {DomainId}, {Device})")
            : F($"ContextCacheInvalidate({ContextCacheGranularity}, did {DomainId})"),
        MonitorActionKind.WriteBufferFlush => "WriteBufferFlush",
        MonitorActionKind.Cleanup => F($"Cleanup([0x{Address:x}, 0x{End:x}], {Policy})"),
        MonitorActionKind.Fence => F($"Fence({Fence}, cores 0x{CoreMap:x})"),
        _ => "None",
    };

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
