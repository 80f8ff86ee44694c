// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.Abstractions;

/// <summary>What a monitor must do after a backend applied updates. Which <see cref="MonitorAction"/> fields are meaningful depends on the kind.</summary>
public enum MonitorActionKind : byte
{
    /// <summary>No action (the default value).</summary>
    None = 0,

    /// <summary>
    /// The 4 KiB table page at <see cref="MonitorAction.Address"/> was written (for an in-memory <see cref="PhysicalMemory"/> the bytes are
    /// already there; a monitor with a separate shadow copies the page, and flushes it from the CPU caches if the walker is not coherent).
    /// <see cref="MonitorAction.Domain"/> is the domain whose tables it belongs to (<see cref="Tyche.Capabilities.DomainHandle.Invalid"/> for shared VT-d root/context pages).
    /// </summary>
    WriteTablePage,

    /// <summary>
    /// The 4 KiB table page at <see cref="MonitorAction.Address"/> went back to the frame allocator. The monitor must perform every
    /// invalidation listed before this action before the frame is reused.
    /// </summary>
    ReleaseTablePage,

    /// <summary>Load the EPT pointer <see cref="MonitorAction.Value"/> for <see cref="MonitorAction.Domain"/> into the VMCS on every core of <see cref="MonitorAction.CoreMap"/>.</summary>
    LoadEptp,

    /// <summary>Write <see cref="MonitorAction.Value"/> to CSR <see cref="MonitorAction.Register"/> on every core of <see cref="MonitorAction.CoreMap"/> (PMP backends).</summary>
    LoadCsr,

    /// <summary>
    /// Execute INVEPT of type <see cref="MonitorAction.InveptType"/> with descriptor EPTP <see cref="MonitorAction.Value"/> on every core of
    /// <see cref="MonitorAction.CoreMap"/> (Intel SDM Vol. 3C §29.4.3 "Invalidation of Cached Information"; instruction reference Vol. 2A "INVEPT").
    /// </summary>
    Invept,

    /// <summary>
    /// Invalidate the VT-d IOTLB: granularity <see cref="MonitorAction.IotlbGranularity"/>, domain id <see cref="MonitorAction.DomainId"/>,
    /// for page-selective requests the address <see cref="MonitorAction.Address"/> and address mask <see cref="MonitorAction.AddressMask"/>
    /// (Intel VT-d specification §6.5 "Invalidation of Translation Caches", IOTLB invalidate register §11.4.8).
    /// </summary>
    IotlbInvalidate,

    /// <summary>
    /// Invalidate the VT-d context cache: granularity <see cref="MonitorAction.ContextCacheGranularity"/>, domain id <see cref="MonitorAction.DomainId"/>,
    /// for device-selective requests the source id <see cref="MonitorAction.Device"/> (function mask 0) (VT-d specification §6.5, CCMD register §11.4.7).
    /// </summary>
    ContextCacheInvalidate,

    /// <summary>Flush the VT-d write buffer (GCMD.WBF) before the invalidations that follow; needed when CAP.RWBF = 1 (VT-d specification §6.8).</summary>
    WriteBufferFlush,

    /// <summary>Clean the physical range <c>[Address, End)</c> with <see cref="MonitorAction.Policy"/> (executed by the facade when a cleaner is configured).</summary>
    Cleanup,

    /// <summary>An ordering fence of kind <see cref="MonitorAction.Fence"/> on every core of <see cref="MonitorAction.CoreMap"/> (e.g. <c>sfence.vma</c> after PMP writes).</summary>
    Fence,
}

/// <summary>INVEPT types (Intel SDM Vol. 3C §29.4.3.1 and the INVEPT instruction reference, Vol. 2A/3C §31.3).</summary>
public enum InveptType : byte
{
    /// <summary>Type 1: invalidates mappings associated with the EP4TA of the EPTP in the descriptor.</summary>
    SingleContext = 1,

    /// <summary>Type 2: invalidates mappings associated with all EP4TAs.</summary>
    AllContext = 2,
}

/// <summary>IOTLB invalidation request granularity (IIRG field of the IOTLB invalidate register, VT-d specification §11.4.8.1).</summary>
public enum IotlbGranularity : byte
{
    /// <summary>No granularity (not an IOTLB action).</summary>
    None = 0,

    /// <summary>Global invalidation (IIRG = 01b).</summary>
    Global = 1,

    /// <summary>Domain-selective invalidation of one domain id (IIRG = 10b).</summary>
    DomainSelective = 2,

    /// <summary>Page-selective-within-domain invalidation of <c>2^AddressMask</c> pages at an aligned address (IIRG = 11b).</summary>
    PageSelective = 3,
}

/// <summary>Context-cache invalidation request granularity (CIRG field of the context command register, VT-d specification §11.4.7.1).</summary>
public enum ContextCacheGranularity : byte
{
    /// <summary>No granularity (not a context-cache action).</summary>
    None = 0,

    /// <summary>Global invalidation (CIRG = 01b).</summary>
    Global = 1,

    /// <summary>Domain-selective invalidation (CIRG = 10b).</summary>
    DomainSelective = 2,

    /// <summary>Device-selective invalidation of one source id (CIRG = 11b).</summary>
    DeviceSelective = 3,
}

/// <summary>Fence kinds reported by <see cref="MonitorActionKind.Fence"/>.</summary>
public enum FenceKind : byte
{
    /// <summary>No fence.</summary>
    None = 0,

    /// <summary>RISC-V <c>sfence.vma x0, x0</c> (privileged specification §3.7.2: after PMP changes).</summary>
    SfenceVma = 1,

    /// <summary>A full memory fence so that table writes are visible to the hardware walker before it is told to use them.</summary>
    Memory = 2,

    /// <summary>
    /// RISC-V <c>hfence.gvma x0, x0</c>: with the hypervisor extension, guest-physical translations cached under the old PMP settings
    /// must be dropped as well (privileged specification §3.7.2, referring to the hypervisor extension's memory-management fences).
    /// </summary>
    HfenceGvma = 3,
}
