// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Tyche.Capabilities;

/// <summary>The kinds of event the engine queues for the monitor and its backends (reference <c>Update</c>, plus devices).</summary>
public enum UpdateKind : byte
{
    /// <summary>The effective permissions of <see cref="Update.Domain"/> changed; <see cref="Update.CoreMap"/> is the cores it was running on when queued (they need a TLB shoot-down).</summary>
    PermissionUpdate,

    /// <summary><see cref="Update.Domain"/> is being revoked; its contexts and tables can be freed.</summary>
    RevokeDomain,

    /// <summary><see cref="Update.Domain"/> was created.</summary>
    CreateDomain,

    /// <summary><see cref="Update.Domain"/> now runs on <see cref="Update.Core"/>; <see cref="Update.ReturnCapability"/> is the return switch in its table.</summary>
    Switch,

    /// <summary>Trap <see cref="Update.Trap"/> with <see cref="Update.Info"/> on <see cref="Update.Core"/> is routed to <see cref="Update.Domain"/> (the handler).</summary>
    Trap,

    /// <summary>The physical range <c>[Start, End)</c> must be cleaned with <see cref="Update.Policy"/> before reuse.</summary>
    Cleanup,

    /// <summary>Device <see cref="Update.Device"/> now belongs to <see cref="Update.Domain"/>: its DMA may reach only that domain's memory.</summary>
    DeviceUpdate,
}

/// <summary>One queued engine event. A plain value; which fields are meaningful depends on <see cref="Kind"/>.</summary>
/// <remarks>The small fields are declared (and so laid out) first: the value is 64 bytes, one cache line.</remarks>
public readonly struct Update : IEquatable<Update>
{
    /// <summary>Creates an update (the engine creates them; public for decoders and test doubles).</summary>
    public Update(UpdateKind kind, DomainHandle domain, ulong coreMap = 0, int core = 0, LocalCapability returnCapability = default,
        ulong trap = 0, ulong info = 0, ulong start = 0, ulong end = 0, CleanupPolicy policy = CleanupPolicy.None, DeviceId device = default)
    {
        Kind = kind;
        Domain = domain;
        CoreMap = coreMap;
        Core = core;
        ReturnCapability = returnCapability;
        Trap = trap;
        Info = info;
        Start = start;
        End = end;
        Policy = policy;
        Device = device;
    }

    /// <summary>The event kind.</summary>
    public UpdateKind Kind { get; }

    /// <summary>For <see cref="UpdateKind.Cleanup"/>: how to clean the range.</summary>
    public CleanupPolicy Policy { get; }

    /// <summary>For <see cref="UpdateKind.DeviceUpdate"/>: the device that moved.</summary>
    public DeviceId Device { get; }

    /// <summary>The domain concerned (for <see cref="UpdateKind.Trap"/>, the handler; for <see cref="UpdateKind.Cleanup"/>, <see cref="DomainHandle.Invalid"/>).</summary>
    public DomainHandle Domain { get; }

    /// <summary>For <see cref="UpdateKind.PermissionUpdate"/>: the cores the domain was running on when queued.</summary>
    public ulong CoreMap { get; }

    /// <summary>For <see cref="UpdateKind.Switch"/> and <see cref="UpdateKind.Trap"/>: the core.</summary>
    public int Core { get; }

    /// <summary>For <see cref="UpdateKind.Switch"/>: the return capability created in the target domain.</summary>
    public LocalCapability ReturnCapability { get; }

    /// <summary>For <see cref="UpdateKind.Trap"/>: the trap bitmask.</summary>
    public ulong Trap { get; }

    /// <summary>For <see cref="UpdateKind.Trap"/>: the trap information word.</summary>
    public ulong Info { get; }

    /// <summary>For <see cref="UpdateKind.Cleanup"/>: first byte of the range.</summary>
    public ulong Start { get; }

    /// <summary>For <see cref="UpdateKind.Cleanup"/>: one past the last byte of the range.</summary>
    public ulong End { get; }

    /// <inheritdoc />
    public bool Equals(Update other) =>
        Kind == other.Kind && Domain == other.Domain && CoreMap == other.CoreMap && Core == other.Core
        && ReturnCapability == other.ReturnCapability && Trap == other.Trap && Info == other.Info
        && Start == other.Start && End == other.End && Policy == other.Policy && Device == other.Device;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Update other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, Domain, CoreMap, Core, Start, End, Device);

    /// <summary>Compares two updates.</summary>
    public static bool operator ==(Update left, Update right) => left.Equals(right);

    /// <summary>Compares two updates.</summary>
    public static bool operator !=(Update left, Update right) => !left.Equals(right);

    /// <summary>The detailed display of the scenario language's <c>updates</c> command, e.g. <c>PermissionUpdate(H(0, gen 0), cores 0x1)</c>.</summary>
    public override string ToString() => Kind switch
    {
        UpdateKind.PermissionUpdate => F($"PermissionUpdate({Domain}, cores 0x{CoreMap:x})"),
        UpdateKind.RevokeDomain => F($"RevokeDomain({Domain})"),
        UpdateKind.CreateDomain => F($"CreateDomain({Domain})"),
        UpdateKind.Switch => F($"Switch({Domain}, core {Core}, return_capa {ReturnCapability})"),
        UpdateKind.Trap => F($"Trap(manager {Domain}, trap 0x{Trap:x}, info 0x{Info:x}, core {Core})"),
        UpdateKind.Cleanup => Policy == CleanupPolicy.Zero
            ? F($"Cleanup([0x{Start:x}, 0x{End:x}])")
            : F($"Cleanup([0x{Start:x}, 0x{End:x}], {Policy})"),
        UpdateKind.DeviceUpdate => F($"DeviceUpdate({Device}, {Domain})"),
        _ => Kind.ToString(),
    };

    /// <summary>The reference test-snapshot display, e.g. <c>PermissionUpdate(H(0, gen 0))</c>, <c>Switch(H(1, gen 0), core 0)</c>.</summary>
    /// <returns>The upstream form of this update.</returns>
    public string ToUpstreamString() => Kind switch
    {
        UpdateKind.PermissionUpdate => F($"PermissionUpdate({Domain})"),
        UpdateKind.Switch => F($"Switch({Domain}, core {Core})"),
        UpdateKind.Trap => F($"Trap(manager: {Domain}, trap: {Trap}, core: {Core})"),
        UpdateKind.Cleanup => F($"Cleanup([0x{Start:x}, 0x{End:x}])"),
        _ => ToString(),
    };

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    // ------------------------------------------------------------------ word-wise access for the engine's queue

    // The layout (sequential, small fields first): Kind @0, Policy @1, Device @2..7, Domain @8 (Index, Generation),
    // CoreMap @16, Core @24, ReturnCapability @28, Trap @32, Info @40, Start @48, End @56: eight 8-byte words.
    // The queue writes and reads updates a word at a time so that a read right after a write is forwarded from the
    // store buffer word for word (a vector copy of a value written field by field stalls on store forwarding).
    private const int Words = 8;

    /// <summary>Copies an update word by word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CopyWords(ref readonly Update source, out Update destination)
    {
        Unsafe.SkipInit(out destination);
        ref ulong s = ref Unsafe.As<Update, ulong>(ref Unsafe.AsRef(in source));
        ref ulong d = ref Unsafe.As<Update, ulong>(ref destination);
        for (int i = 0; i < Words; i++)
        {
            Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
        }
    }

    /// <summary>Writes <c>new Update(UpdateKind.Switch, domain, core: core, returnCapability: returnCapability)</c> word by word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void WriteSwitch(ref Update destination, DomainHandle domain, int core, LocalCapability returnCapability)
    {
        ref ulong d = ref Unsafe.As<Update, ulong>(ref destination);
        d = (ulong)UpdateKind.Switch;
        Unsafe.Add(ref d, 1) = (uint)domain.Index | ((ulong)domain.Generation << 32);
        Unsafe.Add(ref d, 2) = 0;
        Unsafe.Add(ref d, 3) = (uint)core | ((ulong)(uint)returnCapability.Index << 32);
        Unsafe.Add(ref d, 4) = 0;
        Unsafe.Add(ref d, 5) = 0;
        Unsafe.Add(ref d, 6) = 0;
        Unsafe.Add(ref d, 7) = 0;
    }
}
