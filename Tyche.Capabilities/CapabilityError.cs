// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities;

/// <summary>
/// The outcome of an engine operation. Every operation returns one of these instead of throwing; on any value
/// other than <see cref="Ok"/> the engine is exactly as it was before the call (domains, capabilities,
/// region trees, trackers, update queue and free lists).
/// </summary>
/// <remarks>
/// The first members carry the reference engine's error names (Tyche <c>capa-engine</c>, <c>CapaError</c>) so
/// that scenarios replay with the same results; the members after <see cref="AlreadyAliased"/> are this
/// library's additions for cases where the reference crashes, leaks or has no check.
/// </remarks>
public enum CapabilityError
{
    /// <summary>The operation succeeded.</summary>
    Ok = 0,

    /// <summary>The capability kind cannot be duplicated (only channel and region-revoke capabilities can). Duplicate something else.</summary>
    CannotDuplicate,

    /// <summary>Reserved by the reference for the monitor; never returned by this engine.</summary>
    InvalidDuplicate,

    /// <summary>Reserved by the reference for the monitor; never returned by this engine.</summary>
    InvalidInstall,

    /// <summary>An internal region-tree inconsistency was detected; this indicates a bug in the engine.</summary>
    InternalRegionError,

    /// <summary>A tracker range was not present where the operation required it.</summary>
    InvalidRegion,

    /// <summary>The domain handle or capability does not designate a live object of the expected kind (stale handle, dead domain, not a region).</summary>
    InvalidCapa,

    /// <summary>The capability exists but is of another kind than the operation needs. Pass a capability of the right kind.</summary>
    WrongCapabilityType,

    /// <summary>The local capability index is out of range or its slot is free. Enumerate the domain to find valid indices.</summary>
    CapabilityDoesNotExist,

    /// <summary>The domain is sealed; it cannot be sealed again and its configuration cannot change.</summary>
    AlreadySealed,

    /// <summary>The calling domain lacks the permission bit the operation requires, or the core map of a new manager is too small.</summary>
    InsufficientPermissions,

    /// <summary>Reserved by the reference for the monitor; never returned by this engine.</summary>
    InvalidPermissions,

    /// <summary>A fixed-capacity pool (domains, capability slots, region nodes, tracker nodes, devices) is exhausted. Free resources or build the engine with larger capacities.</summary>
    OutOfMemory,

    /// <summary>The three-register capability encoding could not be decoded.</summary>
    CouldNotDeserializeInfo,

    /// <summary>The core number is out of range, not initialised, already initialised, or not allowed for the domain.</summary>
    InvalidCore,

    /// <summary>No domain in the manager chain handles the trap, or the domain has no manager to return to.</summary>
    CouldNotHandleTrap,

    /// <summary>The sealed domain handles this trap itself; no exit to a manager is needed.</summary>
    ValidTrapCausedExit,

    /// <summary>Reserved by the reference for the monitor; never returned by this engine.</summary>
    InvalidSwitch,

    /// <summary>Reserved by the reference for the monitor; never returned by this engine.</summary>
    InvalidVcpuType,

    /// <summary>The operation is not allowed in this state (range outside its parent, overlap with a carve, rights escalation, revoking a root region, unsealed configuration, …).</summary>
    InvalidOperation,

    /// <summary>An argument value is out of its domain (unknown bitmap index, bits outside a mask).</summary>
    InvalidValue,

    /// <summary>A memory-operations value has unknown bits, or write/execute without read.</summary>
    InvalidMemOps,

    /// <summary>A guest-physical range is already mapped by the remapper.</summary>
    AlreadyAliased,

    // ---- Additions of this library (not in the reference) ----

    /// <summary>The domain handle is stale (its domain was revoked) or was never issued. The reference panics here.</summary>
    StaleDomain,

    /// <summary>The update queue is full. Drain it with <c>TryPopUpdate</c>/<c>DrainUpdates</c> and retry. The reference panics here.</summary>
    UpdateQueueFull,

    /// <summary>Sending this management capability would make a domain its own (direct or indirect) manager.</summary>
    ManagementCycle,

    /// <summary>The domain, or a domain it manages, is running on a core; switch it out before revoking it.</summary>
    DomainRunning,

    /// <summary>The domain still owns a root region, which can never be revoked; revoking the domain is refused.</summary>
    OwnsRootRegion,

    /// <summary>The region is VITAL and held by its own owner: revoking it would destroy the caller mid-operation.</summary>
    RevokesOwnVitalRegion,

    /// <summary>The device is already present in the engine (each PCI function has exactly one root capability).</summary>
    DeviceAlreadyExists,

    /// <summary>The operation was refused by a hardware backend's admission check; the engine was rolled back.</summary>
    RejectedByBackend,
}
