// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>
/// Sizes of every pool, fixed when a <see cref="CapabilityEngine"/> is constructed. After construction the engine never
/// allocates managed memory. Defaults follow the specification (and the reference for the reference's pools).
/// </summary>
public sealed class EngineCapacities
{
    /// <summary>Live domains, the manager included. Default 32.</summary>
    public int Domains { get; init; } = 32;

    /// <summary>Capability slots per domain. Default 128.</summary>
    public int CapabilitiesPerDomain { get; init; } = 128;

    /// <summary>Region capability nodes (the derivation tree). Default 1024.</summary>
    public int Regions { get; init; } = 1024;

    /// <summary>Permission-tracker range nodes, shared by all domains. Default 1024.</summary>
    public int TrackerNodes { get; init; } = 1024;

    /// <summary>Pending updates in the queue. Default 128.</summary>
    public int PendingUpdates { get; init; } = 128;

    /// <summary>Physical cores (at most 64: core maps are 64-bit). Default 64.</summary>
    public int Cores { get; init; } = 64;

    /// <summary>PCI functions. Default 256.</summary>
    public int Devices { get; init; } = 256;

    /// <summary>The specification's defaults.</summary>
    public static EngineCapacities Default { get; } = new();

    /// <summary>Checks every value and throws <see cref="ArgumentOutOfRangeException"/> naming the first bad one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A capacity is not positive, or <see cref="Cores"/> exceeds 64.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Domains, 1, nameof(Domains));
        ArgumentOutOfRangeException.ThrowIfLessThan(CapabilitiesPerDomain, 1, nameof(CapabilitiesPerDomain));
        ArgumentOutOfRangeException.ThrowIfLessThan(Regions, 1, nameof(Regions));
        ArgumentOutOfRangeException.ThrowIfLessThan(TrackerNodes, 1, nameof(TrackerNodes));
        ArgumentOutOfRangeException.ThrowIfLessThan(PendingUpdates, 1, nameof(PendingUpdates));
        ArgumentOutOfRangeException.ThrowIfLessThan(Cores, 1, nameof(Cores));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Cores, 64, nameof(Cores));
        ArgumentOutOfRangeException.ThrowIfLessThan(Devices, 0, nameof(Devices));
    }
}

/// <summary>Free counts of the engine's pools (reference <c>get_capacity</c>, plus devices).</summary>
/// <param name="Domains">Free domain slots.</param>
/// <param name="Regions">Free region nodes.</param>
/// <param name="TrackerNodes">Free tracker nodes.</param>
/// <param name="Updates">Free update-queue slots.</param>
/// <param name="Devices">Free device slots.</param>
public readonly record struct FreeCapacity(int Domains, int Regions, int TrackerNodes, int Updates, int Devices);

/// <summary>A snapshot of one domain's state.</summary>
/// <param name="Id">The domain id (1 for the first domain; never reused).</param>
/// <param name="Manager">The managing domain, or <see cref="DomainHandle.Invalid"/> for a root manager.</param>
/// <param name="IsSealed">Whether the domain is sealed.</param>
/// <param name="IsIo">Whether it was created as an I/O domain.</param>
/// <param name="RunningCores">Cores it runs on now.</param>
/// <param name="CoreMap">The CORE bitmap: cores it may run on.</param>
/// <param name="Permissions">The PERMISSION bitmap.</param>
/// <param name="Traps">The TRAP bitmap.</param>
public readonly record struct DomainInfo(ulong Id, DomainHandle Manager, bool IsSealed, bool IsIo, ulong RunningCores, ulong CoreMap,
    DomainPermissions Permissions, ulong Traps);

/// <summary>The invariants of SPEC §1 checked by <see cref="CapabilityEngine.CheckInvariants"/>.</summary>
public enum InvariantKind : byte
{
    /// <summary>I1: a tracker differs from the sum of the effective ranges of the regions its domain owns.</summary>
    TrackerMatchesRegions = 1,

    /// <summary>I2: a region tree node breaks containment, overlap or rights rules.</summary>
    RegionTree = 2,

    /// <summary>I3: a system-wide reference count differs from the number of distinct live domains covering the range.</summary>
    SystemReferenceCount = 3,

    /// <summary>I4: a management cycle, or a live non-root domain without a live manager.</summary>
    ManagementTree = 4,

    /// <summary>I5: more than one pending PermissionUpdate for a domain.</summary>
    PendingPermissionUpdates = 5,

    /// <summary>I6: a capability targets a dead object yet could still be used.</summary>
    CapabilityTargets = 6,

    /// <summary>I7: pools, free lists or generations are inconsistent.</summary>
    Pools = 7,

    /// <summary>I8: a device without exactly one owner.</summary>
    DeviceOwnership = 8,
}

/// <summary>One violated invariant.</summary>
/// <param name="Kind">Which invariant.</param>
/// <param name="Domain">The domain concerned, or <see cref="DomainHandle.Invalid"/>.</param>
/// <param name="Start">The address or index concerned (meaning depends on the invariant).</param>
/// <param name="End">The end of the range concerned, or 0.</param>
public readonly record struct InvariantViolation(InvariantKind Kind, DomainHandle Domain, ulong Start, ulong End);
