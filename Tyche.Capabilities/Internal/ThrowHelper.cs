// SPDX-License-Identifier: Apache-2.0
using System;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Tyche.Capabilities;

/// <summary>Throw sites kept out of hot methods (no throw, no formatting in the engine's operations).</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowTransactionAlreadyOpen() =>
        throw new InvalidOperationException("A transaction is already open; commit or roll it back before beginning another.");

    [DoesNotReturn]
    public static void ThrowNoTransaction() =>
        throw new InvalidOperationException("No transaction is open; call BeginTransaction first.");

    [DoesNotReturn]
    public static void ThrowEngineError(CapabilityError error, string operation, DomainHandle domain, int capability, ulong start, ulong end) =>
        throw new TycheException(error, string.Create(CultureInfo.InvariantCulture,
            $"The capability engine refused {operation} for domain {domain} (capability {capability}, range 0x{start:X16}..0x{end:X16}) with {error}: {Explain(error)}"));

    [DoesNotReturn]
    public static void ThrowEngineError(CapabilityError error, string operation, DomainHandle domain) =>
        throw new TycheException(error, string.Create(CultureInfo.InvariantCulture,
            $"The capability engine refused {operation} for domain {domain} with {error}: {Explain(error)}"));

    [DoesNotReturn]
    public static void ThrowEngineError(CapabilityError error, string operation, DomainHandle domain, int capability) =>
        throw new TycheException(error, string.Create(CultureInfo.InvariantCulture,
            $"The capability engine refused {operation} for domain {domain} on capability {capability} (0x{capability:X}) with {error}: {Explain(error)}"));

    [DoesNotReturn]
    public static void ThrowInvariant(string message) => throw new InvalidOperationException("Engine invariant broken (this is a bug): " + message);

    private static string Explain(CapabilityError error) => error switch
    {
        CapabilityError.InsufficientPermissions => "the domain lacks the permission bit this operation requires.",
        CapabilityError.OutOfMemory => "a fixed-capacity pool or capability table is full.",
        CapabilityError.InvalidOperation => "the operation is not allowed in this state (range, overlap, rights or root rule).",
        CapabilityError.CapabilityDoesNotExist => "the local capability index is out of range or free.",
        CapabilityError.WrongCapabilityType => "the capability is of another kind than the operation needs.",
        CapabilityError.StaleDomain => "the domain handle is stale or was never issued.",
        CapabilityError.InvalidCapa => "the capability or domain does not designate a live object of the expected kind.",
        CapabilityError.AlreadySealed => "the domain is sealed and its configuration cannot change.",
        CapabilityError.UpdateQueueFull => "the update queue is full; drain it and retry.",
        CapabilityError.ManagementCycle => "the send would make a domain its own manager.",
        CapabilityError.DomainRunning => "the domain or a domain it manages is running on a core.",
        CapabilityError.OwnsRootRegion => "the domain owns a root region or root device that can never be revoked.",
        CapabilityError.RevokesOwnVitalRegion => "the revocation would destroy the calling domain.",
        CapabilityError.InvalidCore => "the core is out of range, not initialised, already initialised or not allowed.",
        CapabilityError.DeviceAlreadyExists => "the device already has a root capability.",
        _ => "see the CapabilityError documentation.",
    };
}
