// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>Why a backend refused an engine state or could not apply it.</summary>
public enum BackendRefusalReason : byte
{
    /// <summary>Not refused.</summary>
    None = 0,

    /// <summary>The domain needs more protection entries than the hardware has (<see cref="BackendRefusal.Needed"/> vs <see cref="BackendRefusal.Available"/>).</summary>
    TooManyEntries,

    /// <summary>A range bound is not a multiple of the hardware granularity (<see cref="BackendRefusal.Address"/> is the offending bound).</summary>
    MisalignedRange,

    /// <summary>A range ends above the implemented physical or guest address width (<see cref="BackendRefusal.Address"/>, <see cref="BackendRefusal.Available"/> = width in bits).</summary>
    AddressTooWide,

    /// <summary>The frame allocator ran dry (<see cref="BackendRefusal.Needed"/> frames wanted, <see cref="BackendRefusal.Available"/> free when it failed).</summary>
    OutOfTableFrames,

    /// <summary>The rights cannot be encoded (write or execute without read where the hardware forbids it).</summary>
    UnsupportedRights,

    /// <summary>Two pieces of the domain's memory map to the same guest-physical address.</summary>
    GuestAddressConflict,

    /// <summary>No more hardware domain identifiers (VT-d domain ids, ASIDs); <see cref="BackendRefusal.Available"/> is the limit.</summary>
    OutOfDomainIds,

    /// <summary>The device cannot be represented (e.g. its PCI segment has no remapping unit).</summary>
    UnsupportedDevice,

    /// <summary>The engine view could not supply the state (a domain named by an update is not readable).</summary>
    InconsistentState,
}

/// <summary>A typed refusal from a backend: the reason plus the numbers that explain it.</summary>
public readonly struct BackendRefusal : IEquatable<BackendRefusal>
{
    /// <summary>Creates a refusal.</summary>
    /// <param name="backend">The backend's <see cref="IIsolationBackend.Name"/>.</param>
    /// <param name="reason">The reason.</param>
    /// <param name="domain">The domain concerned, or <see cref="DomainHandle.Invalid"/>.</param>
    /// <param name="address">The offending address, if any.</param>
    /// <param name="needed">What was needed (entries, frames), if meaningful.</param>
    /// <param name="available">What was available (entries, frames, address bits), if meaningful.</param>
    public BackendRefusal(string backend, BackendRefusalReason reason, DomainHandle domain, ulong address = 0, ulong needed = 0, ulong available = 0)
    {
        Backend = backend;
        Reason = reason;
        Domain = domain;
        Address = address;
        Needed = needed;
        Available = available;
    }

    /// <summary>No refusal.</summary>
    public static BackendRefusal None => default;

    /// <summary>The refusing backend's name (empty for <see cref="None"/>).</summary>
    public string Backend => field ?? string.Empty;

    /// <summary>The reason.</summary>
    public BackendRefusalReason Reason { get; }

    /// <summary>The domain concerned.</summary>
    public DomainHandle Domain { get; }

    /// <summary>The offending address.</summary>
    public ulong Address { get; }

    /// <summary>What was needed.</summary>
    public ulong Needed { get; }

    /// <summary>What was available.</summary>
    public ulong Available { get; }

    /// <summary>Whether this is a refusal (not <see cref="None"/>).</summary>
    public bool IsRefused => Reason != BackendRefusalReason.None;

    /// <inheritdoc />
    public bool Equals(BackendRefusal other) =>
        Backend == other.Backend && Reason == other.Reason && Domain == other.Domain && Address == other.Address
        && Needed == other.Needed && Available == other.Available;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is BackendRefusal other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Backend, Reason, Domain, Address, Needed, Available);

    /// <summary>Compares two refusals.</summary>
    public static bool operator ==(BackendRefusal left, BackendRefusal right) => left.Equals(right);

    /// <summary>Compares two refusals.</summary>
    public static bool operator !=(BackendRefusal left, BackendRefusal right) => !left.Equals(right);

    /// <summary>A display such as <c>pmp: TooManyEntries for H(1, gen 0) (needed 17, available 15)</c>.</summary>
    public override string ToString() => Reason == BackendRefusalReason.None
        ? "None"
        : string.Create(CultureInfo.InvariantCulture,
            $"{Backend}: {Reason} for {Domain} (address 0x{Address:x}, needed {Needed}, available {Available})");
}
