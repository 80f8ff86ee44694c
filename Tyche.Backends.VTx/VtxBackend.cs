// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx.Internal;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx;

/// <summary>
/// The Intel VT-x backend: one 4-level EPT per domain and VT-d legacy-mode root/context/second-level tables per device, kept equal to
/// the engine's effective permissions incrementally, with the INVEPT / context-cache / IOTLB invalidations each change requires.
/// </summary>
/// <remarks>
/// <para><b>Rights.</b> R → EPT bit 0, W → bit 1, X → bit 2 (supervisor-execute, which is plain execute because this backend never enables
/// mode-based execute control; the S right has no EPT encoding and is not mapped). Ranges without R are not mapped unless they carry W or X,
/// which is refused (W without R is always an EPT misconfiguration; X-only only with <see cref="VtxBackendOptions.ExecuteOnly"/>).
/// Devices get R/W only (VT-d second-level bits 0–1, never execute).</para>
/// <para><b>Addresses.</b> Guest addresses come from the domain's <see cref="GpaRemapper"/> (identity by default). Every mapped bound must be
/// 4 KiB aligned, host addresses below 2^MAXPHYADDR, guest addresses below 2^48 (4-level walk); violations are refused at admission.</para>
/// <para><b>Invalidation rule</b> (Intel SDM Vol. 3C §29.4.3.4): after an update, INVEPT single-context with the domain's EPTP is issued on
/// exactly the cores of the update's core map if any present entry lost a right, changed address, page size (bit 7) or memory type, or was
/// removed; none when rights only grow on unchanged pages. Cores that ran the domain earlier but are not in the core map still hold
/// translations tagged with its EP4TA: their INVEPT is deferred to the next <see cref="UpdateKind.Switch"/> of the domain onto that core,
/// right after its EPTP load. Table pages released by a change are reported after the invalidation.</para>
/// </remarks>
public sealed class VtxBackend : IIsolationBackend
{
    private const string BackendName = "vtx";
    private const ulong PageMask = PagingLevels.PageSize4K - 1;
    private const int MaxCores = 64; // Core maps are 64-bit masks (Update.CoreMap).
    private const MemoryOperations MappedRights = MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute;

    private readonly VtxBackendOptions _options;
    private readonly TableJournal _journal;
    private readonly EptFormat _ept;
    private readonly SecondLevelFormat _sl;
    private readonly UncacheableRange[] _uncacheable;
    private readonly ulong _maxHostAddress;
    private readonly ulong _writeBackBits;
    private readonly ulong _maxGuestAddress = 1UL << PagingLevels.FourLevelAddressBits;
    private readonly Dictionary<DeviceId, DomainHandle> _deviceOwners = new();
    private readonly Dictionary<ushort, ulong> _rootTables = new();
    private readonly Dictionary<int, ulong> _contextTables = new();
    private readonly bool[] _didUsed;
    private DomainState?[] _domains = new DomainState?[32];
    private readonly Stack<DomainState> _pool = new();
    private readonly List<DomainState> _removedInTx = new();
    private readonly List<DomainState> _takenInTx = new();
    private MemoryPermission[] _permissions = new MemoryPermission[64];
    private GuestMapping[] _pieces = new GuestMapping[64];
    private MappingBuffer _eptScratch = new(); // EPT targets built during validation of an identity domain (same pass over the list)
    private bool _eptScratchReady; // _eptScratch holds the targets of _piecesDomain's current permissions
    private DeviceId[] _deviceScratch = new DeviceId[16];
    private int _pieceCount;
    private int _permissionCount;
    private bool _identity;
    private DomainHandle _piecesDomain = DomainHandle.Invalid; // whose pieces _pieces holds, valid from TryAdmit to the end of TryApply
    private int _didFree;
    private Undo[] _undo = new Undo[64];
    private int _undoCount;
    private long _stamp;

    /// <summary>Creates the backend.</summary>
    /// <param name="memory">Where table entries are read and written.</param>
    /// <param name="allocator">Where table frames come from.</param>
    /// <param name="options">Hardware description; defaults when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="memory"/> or <paramref name="allocator"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public VtxBackend(ITableMemory memory, IFrameAllocator allocator, VtxBackendOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(allocator);
        _options = options ?? new VtxBackendOptions();
        _options.Validate();
        _journal = new TableJournal(memory, allocator);
        _ept = new EptFormat(_options.PhysicalAddressBits, _options.Use2MiBPages, _options.Use1GiBPages);
        _sl = new SecondLevelFormat(_options.PhysicalAddressBits, _options.SecondLevel2MiBPages, _options.SecondLevel1GiBPages);
        _maxHostAddress = 1UL << _options.PhysicalAddressBits;
        _writeBackBits = ((ulong)EptMemoryType.WriteBack << EptEntry.MemoryTypeShift) | (_options.IgnorePatForWriteBack ? EptEntry.IgnorePat : 0);
        _uncacheable = NormalizeRanges(_options.UncacheableRanges);
        _didUsed = new bool[_options.VtdDomainIds];
        _didUsed[0] = true; // Domain id 0 is reserved when CAP.CM = 1 (VT-d §6.2.2); never used, so tables stay valid either way.
        _didFree = _options.VtdDomainIds - 1;
        Limits = new HardwareLimits
        {
            PhysicalAddressBits = _options.PhysicalAddressBits,
            GuestAddressBits = PagingLevels.FourLevelAddressBits,
            Granularity = PagingLevels.PageSize4K,
            ExecuteOnly = _options.ExecuteOnly,
            LargestPageSize = _options.Use1GiBPages ? PagingLevels.PageSize1G : _options.Use2MiBPages ? PagingLevels.PageSize2M : PagingLevels.PageSize4K,
        };
    }

    /// <inheritdoc />
    public string Name => BackendName;

    /// <inheritdoc />
    public HardwareLimits Limits { get; }

    /// <summary>The options the backend was built with.</summary>
    public VtxBackendOptions Options => _options;

    /// <summary>Number of domains with EPT state.</summary>
    public int DomainCount
    {
        get
        {
            int n = 0;
            foreach (DomainState? s in _domains)
            {
                n += s is null ? 0 : 1;
            }

            return n;
        }
    }

    /// <summary>The EPT pointer of a domain: PML4 address | WB | (4 − 1) &lt;&lt; 3 [| A/D enable].</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="eptp">The EPTP.</param>
    /// <returns><see langword="false"/> when the backend has no tables for the domain.</returns>
    public bool TryGetEptPointer(DomainHandle domain, out ulong eptp)
    {
        DomainState? st = Find(domain);
        eptp = st is null ? 0 : EptPointer.Create(st.Ept.Root, _options.AccessedDirtyFlags);
        return st is not null;
    }

    /// <summary>The GPA→HPA remapper of a domain. Changes take effect at the domain's next permission update
    /// (<see cref="Monitor.TryConditionalPermissionUpdate"/>), where admission checks them.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="remapper">Its remapper.</param>
    /// <returns><see langword="false"/> when the backend has no state for the domain.</returns>
    public bool TryGetRemapper(DomainHandle domain, [NotNullWhen(true)] out GpaRemapper? remapper)
    {
        DomainState? st = Find(domain);
        remapper = st?.Remapper;
        return st is not null;
    }

    /// <summary>The VT-d second-level table of a domain that owns devices, and its domain id.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="root">The second-level PML4 address.</param>
    /// <param name="domainId">The VT-d domain id.</param>
    /// <returns><see langword="false"/> when the domain owns no device.</returns>
    public bool TryGetSecondLevelTable(DomainHandle domain, out ulong root, out ushort domainId)
    {
        DomainState? st = Find(domain);
        root = st?.Sl?.Root ?? 0;
        domainId = st?.Sl is null ? (ushort)0 : st.Did;
        return st?.Sl is not null;
    }

    /// <summary>The VT-d root table of a PCI segment (what RTADDR must hold, with TTM = 00b legacy mode).</summary>
    /// <param name="segment">The PCI segment.</param>
    /// <param name="address">The root table's address.</param>
    /// <returns><see langword="false"/> when no device of that segment was ever mapped.</returns>
    public bool TryGetRootTable(ushort segment, out ulong address) => _rootTables.TryGetValue(segment, out address);

    /// <inheritdoc />
    public bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _piecesDomain = DomainHandle.Invalid;
        int newDomainIds = 0;
        for (int i = 0; i < updates.Length; i++)
        {
            ref readonly Update u = ref updates[i];
            switch (u.Kind)
            {
                case UpdateKind.CreateDomain:
                case UpdateKind.PermissionUpdate:
                case UpdateKind.DeviceUpdate:
                    if (u.Domain.IsInvalid || !engine.IsLive(u.Domain))
                    {
                        continue;
                    }

                    if (!BuildPieces(engine, u.Domain, Find(u.Domain), out refusal))
                    {
                        return false;
                    }

                    if (u.Kind == UpdateKind.DeviceUpdate && Find(u.Domain)?.Sl is null && !NamedEarlier(updates, i, u.Domain))
                    {
                        newDomainIds++;
                    }

                    break;
            }
        }

        if (newDomainIds > _didFree)
        {
            refusal = new BackendRefusal(BackendName, BackendRefusalReason.OutOfDomainIds, DomainHandle.Invalid, 0, (ulong)newDomainIds, (ulong)_didFree);
            return false;
        }

        refusal = BackendRefusal.None;
        return true;
    }

    /// <inheritdoc />
    public bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(actions);
        _stamp++;
        int mark = actions.Count;
        refusal = BackendRefusal.None;
        bool ok = true;
        foreach (ref readonly Update u in updates)
        {
            ok = u.Kind switch
            {
                UpdateKind.CreateDomain => u.Domain.IsInvalid || !engine.IsLive(u.Domain) || EnsureState(u.Domain, actions, out _, out refusal),
                UpdateKind.PermissionUpdate => !engine.IsLive(u.Domain) || ApplyPermissions(engine, u.Domain, u.CoreMap, actions, out refusal),
                UpdateKind.RevokeDomain => TearDown(engine, u.Domain, actions, out refusal),
                UpdateKind.Switch => ApplySwitch(u.Domain, u.Core, actions, out refusal),
                UpdateKind.DeviceUpdate => MoveDevice(engine, u.Device, u.Domain, actions, out refusal),
                _ => true,
            };
            if (!ok)
            {
                break;
            }
        }

        _piecesDomain = DomainHandle.Invalid;
        if (!ok)
        {
            Rollback();
            actions.Truncate(mark);
            return false;
        }

        return true;
    }

    /// <inheritdoc />
    public void Commit()
    {
        // Torn-down domain states are recycled (tables, buffers and remapper keep their capacity): no allocation once warm.
        foreach (DomainState removed in _removedInTx)
        {
            _pool.Push(removed);
        }

        _removedInTx.Clear();
        _takenInTx.Clear();
        _journal.Commit();
        Array.Clear(_undo, 0, _undoCount);
        _undoCount = 0;
    }

    /// <inheritdoc />
    public void Rollback()
    {
        foreach (DomainState taken in _takenInTx)
        {
            _pool.Push(taken);
        }

        _takenInTx.Clear();
        _removedInTx.Clear();
        for (int i = _undoCount - 1; i >= 0; i--)
        {
            ref Undo u = ref _undo[i];
            switch (u.Kind)
            {
                case UndoKind.DomainSlot:
                    _domains[u.Index] = (DomainState?)u.Object;
                    break;
                case UndoKind.DomainScalars:
                    var st = (DomainState)u.Object!;
                    st.EverRun = u.A;
                    st.PendingInvept = u.B;
                    st.Sl = (AddressSpace?)u.Object2;
                    st.Did = (ushort)u.Index;
                    st.DeviceCount = u.Count;
                    st.Stamp = -1;
                    break;
                case UndoKind.Space:
                    var space = (AddressSpace)u.Object!;
                    space.Root = space.SavedRoot;
                    space.Current = space.SavedCurrent;
                    space.Stamp = -1;
                    break;
                case UndoKind.DeviceOwner:
                    if (u.Flag)
                    {
                        _deviceOwners[u.Device] = u.Handle;
                    }
                    else
                    {
                        _deviceOwners.Remove(u.Device);
                    }

                    break;
                case UndoKind.DomainId:
                    if (_didUsed[u.Index] != u.Flag)
                    {
                        _didFree += u.Flag ? -1 : 1;
                    }

                    _didUsed[u.Index] = u.Flag;
                    break;
                case UndoKind.RootTable:
                    _rootTables.Remove((ushort)u.Index);
                    break;
                case UndoKind.ContextTable:
                    _contextTables.Remove(u.Index);
                    break;
            }
        }

        Array.Clear(_undo, 0, _undoCount);
        _undoCount = 0;
        _journal.Rollback();
    }

    // ------------------------------------------------------------------ permissions → pieces → targets

    /// <summary>Reads the domain's permissions, validates them and produces guest-sorted, non-overlapping pieces in <see cref="_pieces"/>.</summary>
    private bool BuildPieces(IEngineView engine, DomainHandle domain, DomainState? st, out BackendRefusal refusal)
    {
        _piecesDomain = DomainHandle.Invalid;
        _eptScratchReady = false;
        if (!BuildPiecesCore(engine, domain, st, out refusal))
        {
            return false;
        }

        _piecesDomain = domain;
        return true;
    }

    private bool BuildPiecesCore(IEngineView engine, DomainHandle domain, DomainState? st, out BackendRefusal refusal)
    {
        // One engine walk in the common case: only ask for the count when the buffer is too small.
        if (!engine.TryGetPermissions(domain, _permissions, out int count))
        {
            count = engine.GetPermissionCount(domain);
            if (count > _permissions.Length)
            {
                _permissions = new MemoryPermission[Math.Max(count, _permissions.Length * 2)];
            }

            if (!engine.TryGetPermissions(domain, _permissions, out count))
            {
                refusal = Refusal(BackendRefusalReason.InconsistentState, domain);
                return false;
            }
        }

        GpaRemapper? remapper = st?.Remapper;
        bool identity = remapper is null || remapper.IsIdentity;
        ReadOnlySpan<MemoryPermission> perms = _permissions.AsSpan(0, count);
        MappingBuffer targets = _eptScratch;
        targets.Clear();
        bool direct = identity && _uncacheable.Length == 0; // one target per range at most: add without capacity checks
        if (direct)
        {
            targets.EnsureCapacity(count);
        }

        ulong maxHost = _maxHostAddress;
        ulong maxGuest = _maxGuestAddress;
        ulong writeBack = _writeBackBits;
        foreach (ref readonly MemoryPermission p in perms)
        {
            MemoryOperations ops = p.Operations & MappedRights;
            if (ops == 0 || p.Start >= p.End)
            {
                continue;
            }

            if ((ops & MemoryOperations.Read) == 0 && ((ops & MemoryOperations.Write) != 0 || !_options.ExecuteOnly))
            {
                refusal = Refusal(BackendRefusalReason.UnsupportedRights, domain, p.Start);
                return false;
            }

            if (((p.Start | p.End) & PageMask) != 0)
            {
                refusal = Refusal(BackendRefusalReason.MisalignedRange, domain, (p.Start & PageMask) != 0 ? p.Start : p.End, PagingLevels.PageSize4K);
                return false;
            }

            if (p.End > maxHost)
            {
                refusal = Refusal(BackendRefusalReason.AddressTooWide, domain, p.End, 0, (ulong)_options.PhysicalAddressBits);
                return false;
            }

            if (identity)
            {
                if (p.End > maxGuest)
                {
                    refusal = Refusal(BackendRefusalReason.AddressTooWide, domain, p.End, 0, PagingLevels.FourLevelAddressBits);
                    return false;
                }

                // Identity pieces are the ranges themselves: build the EPT targets in this same pass (what BuildEptTargets would produce).
                if (direct)
                {
                    targets.AddWithinCapacity(p.Start, p.Start, p.End - p.Start, EptRights(ops) | writeBack);
                }
                else
                {
                    AddEpt(targets, p.Start, p.Start, p.End - p.Start, ops);
                }
            }
        }

        _permissionCount = count;
        _identity = identity;
        if (identity)
        {
            _eptScratchReady = true;
            // Identity: the permission ranges themselves are the (guest-sorted, disjoint) pieces; no copy needed.
            refusal = BackendRefusal.None;
            return true;
        }

        int needed = remapper!.Remap(perms, _pieces, expand: true);
        if (needed > _pieces.Length)
        {
            _pieces = new GuestMapping[Math.Max(needed, _pieces.Length * 2)];
            needed = remapper!.Remap(perms, _pieces, expand: true);
        }

        // Drop pieces without mapped rights, then sort by guest address (insertion sort: the list is nearly sorted in practice).
        int n = 0;
        for (int i = 0; i < needed; i++)
        {
            if ((_pieces[i].Operations & MappedRights) != 0 && _pieces[i].Size != 0)
            {
                _pieces[n++] = _pieces[i];
            }
        }

        for (int i = 1; i < n; i++)
        {
            GuestMapping x = _pieces[i];
            int j = i - 1;
            while (j >= 0 && _pieces[j].Gpa > x.Gpa)
            {
                _pieces[j + 1] = _pieces[j];
                j--;
            }

            _pieces[j + 1] = x;
        }

        _pieceCount = n;
        for (int i = 0; i < n; i++)
        {
            ref readonly GuestMapping g = ref _pieces[i];
            if (((g.Gpa | g.Size) & PageMask) != 0)
            {
                refusal = Refusal(BackendRefusalReason.MisalignedRange, domain, g.Gpa, PagingLevels.PageSize4K);
                return false;
            }

            if (g.Gpa + g.Size > _maxGuestAddress || g.Gpa + g.Size < g.Gpa)
            {
                refusal = Refusal(BackendRefusalReason.AddressTooWide, domain, g.Gpa + g.Size, 0, PagingLevels.FourLevelAddressBits);
                return false;
            }

            if (i > 0 && _pieces[i - 1].Gpa + _pieces[i - 1].Size > g.Gpa)
            {
                refusal = Refusal(BackendRefusalReason.GuestAddressConflict, domain, g.Gpa);
                return false;
            }
        }

        refusal = BackendRefusal.None;
        return true;
    }

    /// <summary>EPT leaf attributes for the current pieces, split at uncacheable host ranges (SDM Vol. 3C §29.3.7).</summary>
    private void BuildEptTargets(MappingBuffer buffer)
    {
        buffer.Clear();
        if (_identity)
        {
            foreach (ref readonly MemoryPermission p in _permissions.AsSpan(0, _permissionCount))
            {
                if ((p.Operations & MappedRights) != 0 && p.Start < p.End)
                {
                    AddEpt(buffer, p.Start, p.Start, p.End - p.Start, p.Operations);
                }
            }

            return;
        }

        foreach (ref readonly GuestMapping g in _pieces.AsSpan(0, _pieceCount))
        {
            AddEpt(buffer, g.Gpa, g.Hpa, g.Size, g.Operations);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong EptRights(MemoryOperations ops) =>
        ((ops & MemoryOperations.Read) != 0 ? EptEntry.Read : 0)
        | ((ops & MemoryOperations.Write) != 0 ? EptEntry.Write : 0)
        | ((ops & MemoryOperations.Execute) != 0 ? EptEntry.Execute : 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddEpt(MappingBuffer buffer, ulong gpa, ulong hpa, ulong size, MemoryOperations ops)
    {
        ulong rights = EptRights(ops);
        if (_uncacheable.Length == 0)
        {
            buffer.Add(gpa, hpa, size, rights | _writeBackBits);
            return;
        }

        const ulong Uc = ((ulong)EptMemoryType.Uncacheable << EptEntry.MemoryTypeShift) | EptEntry.IgnorePat;
        ulong cursor = hpa;
        ulong end = hpa + size;
        int u = FirstUncacheableEndingAfter(cursor);
        while (cursor < end)
        {
            ulong next;
            ulong attributes;
            if (u < _uncacheable.Length && _uncacheable[u].Start <= cursor)
            {
                next = Math.Min(end, _uncacheable[u].End);
                attributes = rights | Uc;
            }
            else
            {
                next = u < _uncacheable.Length ? Math.Min(end, _uncacheable[u].Start) : end;
                attributes = rights | _writeBackBits;
            }

            buffer.Add(gpa + (cursor - hpa), cursor, next - cursor, attributes);
            cursor = next;
            if (u < _uncacheable.Length && _uncacheable[u].End <= cursor)
            {
                u++;
            }
        }
    }

    /// <summary>Second-level leaf attributes: R and W only (devices never execute); a range without R is not mapped.</summary>
    private void BuildSecondLevelTargets(MappingBuffer buffer)
    {
        buffer.Clear();
        if (_identity)
        {
            foreach (ref readonly MemoryPermission p in _permissions.AsSpan(0, _permissionCount))
            {
                if ((p.Operations & MemoryOperations.Read) != 0 && p.Start < p.End)
                {
                    buffer.Add(p.Start, p.Start, p.End - p.Start, SecondLevelRights(p.Operations));
                }
            }

            return;
        }

        foreach (ref readonly GuestMapping g in _pieces.AsSpan(0, _pieceCount))
        {
            if ((g.Operations & MemoryOperations.Read) != 0)
            {
                buffer.Add(g.Gpa, g.Hpa, g.Size, SecondLevelRights(g.Operations));
            }
        }
    }

    private static ulong SecondLevelRights(MemoryOperations ops) =>
        SecondLevelEntry.Read | ((ops & MemoryOperations.Write) != 0 ? SecondLevelEntry.Write : 0);

    private int FirstUncacheableEndingAfter(ulong address)
    {
        int lo = 0;
        int hi = _uncacheable.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_uncacheable[mid].End <= address)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    // ------------------------------------------------------------------ diff and apply

    /// <summary>Rewrites only the guest ranges whose intended mapping differs between the space's current buffer and <paramref name="next"/>.</summary>
    private bool DiffApply<TFormat>(in TFormat format, AddressSpace space, int next)
        where TFormat : struct, IEntryFormat
    {
        ReadOnlySpan<TargetMapping> old = space.CurrentBuffer.Span;
        ReadOnlySpan<TargetMapping> nw = space.Buffers[next].Span;

        // Identical leading and trailing pieces cannot differ: sweep only the window between them (vectorised comparisons).
        int prefix = CommonPrefix(old, nw);
        int suffix = CommonSuffix(old[prefix..], nw[prefix..]);
        old = old[prefix..(old.Length - suffix)];
        nw = nw[prefix..(nw.Length - suffix)];
        int i = 0;
        int j = 0;
        ulong g = 0;
        bool pending = false;
        ulong pStart = 0;
        ulong pEnd = 0;
        int pNew = -1;
        while (true)
        {
            while (i < old.Length && old[i].GpaEnd <= g)
            {
                i++;
            }

            while (j < nw.Length && nw[j].GpaEnd <= g)
            {
                j++;
            }

            if (i >= old.Length && j >= nw.Length)
            {
                break;
            }

            ulong oStart = i < old.Length ? old[i].Gpa : ulong.MaxValue;
            ulong nStart = j < nw.Length ? nw[j].Gpa : ulong.MaxValue;
            bool oIn = oStart <= g;
            bool nIn = nStart <= g;
            if (!oIn && !nIn)
            {
                g = Math.Min(oStart, nStart);
                continue;
            }

            ulong segEnd = Math.Min(oIn ? old[i].GpaEnd : oStart, nIn ? nw[j].GpaEnd : nStart);
            bool same = oIn && nIn && old[i].Attributes == nw[j].Attributes && old[i].Hpa - old[i].Gpa == nw[j].Hpa - nw[j].Gpa;
            if (!same)
            {
                int ni = nIn ? j : -1;
                if (pending && pEnd == g && pNew == ni)
                {
                    pEnd = segEnd;
                }
                else
                {
                    if (pending && !SetRange(format, space.Root, pStart, pEnd, pNew, nw))
                    {
                        return false;
                    }

                    pending = true;
                    pStart = g;
                    pEnd = segEnd;
                    pNew = ni;
                }
            }

            g = segEnd;
        }

        return !pending || SetRange(format, space.Root, pStart, pEnd, pNew, nw);
    }

    private static int CommonPrefix(ReadOnlySpan<TargetMapping> a, ReadOnlySpan<TargetMapping> b)
    {
        int bytes = MemoryMarshal.AsBytes(a).CommonPrefixLength(MemoryMarshal.AsBytes(b));
        return Math.Min(bytes / Unsafe.SizeOf<TargetMapping>(), Math.Min(a.Length, b.Length));
    }

    private static int CommonSuffix(ReadOnlySpan<TargetMapping> a, ReadOnlySpan<TargetMapping> b)
    {
        const int Chunk = 32;
        int n = 0;
        int max = Math.Min(a.Length, b.Length);
        while (n + Chunk <= max
            && MemoryMarshal.AsBytes(a.Slice(a.Length - n - Chunk, Chunk)).SequenceEqual(MemoryMarshal.AsBytes(b.Slice(b.Length - n - Chunk, Chunk))))
        {
            n += Chunk;
        }

        while (n < max && Same(a[a.Length - n - 1], b[b.Length - n - 1]))
        {
            n++;
        }

        return n;
    }

    private static bool Same(in TargetMapping x, in TargetMapping y) =>
        x.Gpa == y.Gpa && x.Hpa == y.Hpa && x.Size == y.Size && x.Attributes == y.Attributes;

    private bool SetRange<TFormat>(in TFormat format, ulong root, ulong start, ulong end, int mapping, ReadOnlySpan<TargetMapping> targets)
        where TFormat : struct, IEntryFormat
    {
        if (mapping < 0)
        {
            return PageTableEditor<TFormat>.Set(format, _journal, root, start, end, 0, 0);
        }

        ref readonly TargetMapping m = ref targets[mapping];
        return PageTableEditor<TFormat>.Set(format, _journal, root, start, end, m.Hpa + (start - m.Gpa), m.Attributes);
    }

    private bool ApplyPermissions(IEngineView engine, DomainHandle domain, ulong coreMap, MonitorActionList actions, out BackendRefusal refusal)
    {
        if (!EnsureState(domain, actions, out DomainState st, out refusal))
        {
            return false;
        }

        // Admission already read and validated this domain's state for the same updates; nothing can change in between.
        if (_piecesDomain != domain && !BuildPieces(engine, domain, st, out refusal))
        {
            return false;
        }

        TouchDomain(st);
        TouchSpace(st.Ept);
        int next = st.Ept.SpareIndex(saved: true);
        if (_eptScratchReady)
        {
            // Admission built this domain's targets while validating: swap that buffer in instead of walking the list again.
            // The spare buffer is neither the current nor the rollback-saved one, so exchanging it is invisible to rollback.
            (st.Ept.Buffers[next], _eptScratch) = (_eptScratch, st.Ept.Buffers[next]);
            _eptScratchReady = false;
        }
        else
        {
            BuildEptTargets(st.Ept.Buffers[next]);
        }
        _journal.BeginSession();
        if (!DiffApply(_ept, st.Ept, next))
        {
            refusal = OutOfFrames(domain);
            return false;
        }

        st.Ept.Current = next;
        _journal.EmitWrites(actions, domain);
        if (_journal.NeedsInvalidation)
        {
            ulong eptp = EptPointer.Create(st.Ept.Root, _options.AccessedDirtyFlags);
            if (coreMap != 0)
            {
                actions.Add(MonitorAction.Invept(domain, InveptType.SingleContext, eptp, coreMap));
            }

            // Cores that ran the domain before but are not in the core map invalidate on their next switch to it.
            st.PendingInvept = (st.PendingInvept | st.EverRun) & ~coreMap;
        }

        _journal.EmitReleases(actions, domain);
        st.EverRun |= coreMap;

        if (st.Sl is not null)
        {
            return UpdateSecondLevel(st, actions, out refusal);
        }

        return true;
    }

    private bool UpdateSecondLevel(DomainState st, MonitorActionList actions, out BackendRefusal refusal)
    {
        AddressSpace sl = st.Sl!;
        TouchSpace(sl);
        int next = sl.SpareIndex(saved: true);
        BuildSecondLevelTargets(sl.Buffers[next]);
        _journal.BeginSession();
        if (!DiffApply(_sl, sl, next))
        {
            refusal = OutOfFrames(st.Handle);
            return false;
        }

        sl.Current = next;
        _journal.EmitWrites(actions, st.Handle);
        bool invalidate = _journal.NeedsInvalidation || (_options.VtdCachingMode && _journal.AnyChange);
        if (_options.VtdWriteBufferFlush && _journal.AnyChange)
        {
            actions.Add(MonitorAction.WriteBufferFlush());
        }

        if (invalidate)
        {
            AddIotlbInvalidation(st, actions);
        }

        _journal.EmitReleases(actions, st.Handle);
        refusal = BackendRefusal.None;
        return true;
    }

    /// <summary>Page-selective when the changed guest span fits one naturally aligned block of at most 2^MAMV pages, else domain-selective.</summary>
    private void AddIotlbInvalidation(DomainState st, MonitorActionList actions)
    {
        ulong low = _journal.NeedsInvalidation ? _journal.InvalidationLow : 0;
        ulong high = _journal.NeedsInvalidation ? _journal.InvalidationHigh : _maxGuestAddress;
        for (int am = 0; am <= _options.VtdMaxAddressMask; am++)
        {
            int shift = EptEntry.AddressShift + am;
            if (high > low && (low >> shift) == ((high - 1) >> shift))
            {
                actions.Add(MonitorAction.IotlbInvalidate(st.Handle, IotlbGranularity.PageSelective, st.Did, (low >> shift) << shift, (byte)am));
                return;
            }
        }

        actions.Add(MonitorAction.IotlbInvalidate(st.Handle, IotlbGranularity.DomainSelective, st.Did));
    }

    private bool ApplySwitch(DomainHandle domain, int core, MonitorActionList actions, out BackendRefusal refusal)
    {
        if (domain.IsInvalid || (uint)core >= MaxCores)
        {
            refusal = BackendRefusal.None;
            return true;
        }

        if (!EnsureState(domain, actions, out DomainState st, out refusal))
        {
            return false;
        }

        TouchDomain(st);
        ulong bit = 1UL << core;
        ulong eptp = EptPointer.Create(st.Ept.Root, _options.AccessedDirtyFlags);
        actions.Add(MonitorAction.LoadEptp(domain, eptp, bit));
        if ((st.PendingInvept & bit) != 0)
        {
            actions.Add(MonitorAction.Invept(domain, InveptType.SingleContext, eptp, bit));
            st.PendingInvept &= ~bit;
        }

        st.EverRun |= bit;
        return true;
    }

    // ------------------------------------------------------------------ domains

    private DomainState? Find(DomainHandle domain)
    {
        if (domain.IsInvalid || domain.Index >= _domains.Length)
        {
            return null;
        }

        DomainState? st = _domains[domain.Index];
        return st is not null && st.Handle == domain ? st : null;
    }

    private bool EnsureState(DomainHandle domain, MonitorActionList actions, out DomainState state, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        DomainState? st = Find(domain);
        if (st is not null)
        {
            state = st;
            return true;
        }

        state = null!;
        if (domain.Index >= _domains.Length)
        {
            Array.Resize(ref _domains, Math.Max(domain.Index + 1, _domains.Length * 2));
        }

        DomainState? stale = _domains[domain.Index];
        if (stale is not null && !TearDownState(stale, actions, out refusal))
        {
            return false;
        }

        if (!_journal.TryAllocate(out ulong root))
        {
            refusal = OutOfFrames(domain);
            return false;
        }

        if (_pool.TryPop(out st))
        {
            st.Reset(domain, root);
            _takenInTx.Add(st);
        }
        else
        {
            st = new DomainState(domain, root, new GpaRemapper(_options.RemapSegmentsPerDomain));
        }

        PushUndo(new Undo { Kind = UndoKind.DomainSlot, Index = domain.Index, Object = _domains[domain.Index] });
        _domains[domain.Index] = st;
        state = st;
        return true;
    }

    private bool TearDown(IEngineView engine, DomainHandle domain, MonitorActionList actions, out BackendRefusal refusal)
    {
        _ = engine;
        DomainState? st = Find(domain);
        refusal = BackendRefusal.None;
        return st is null || TearDownState(st, actions, out refusal);
    }

    private bool TearDownState(DomainState st, MonitorActionList actions, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        TouchDomain(st);

        // Detach the domain's devices first (context entries not present, invalidations), which also frees its second-level table.
        if (st.Sl is not null)
        {
            int n = 0;
            foreach (KeyValuePair<DeviceId, DomainHandle> kv in _deviceOwners)
            {
                if (kv.Value == st.Handle)
                {
                    if (n == _deviceScratch.Length)
                    {
                        Array.Resize(ref _deviceScratch, n * 2);
                    }

                    _deviceScratch[n++] = kv.Key;
                }
            }

            for (int i = 0; i < n; i++)
            {
                if (!WriteContext(_deviceScratch[i], null, actions, out refusal))
                {
                    return false;
                }

                SetOwner(_deviceScratch[i], DomainHandle.Invalid);
                ReleaseDevice(st, actions);
            }
        }

        _journal.BeginSession();
        PageTableEditor<EptFormat>.ReleaseTree(_ept, _journal, st.Ept.Root, PagingLevels.FourLevels);
        if (st.EverRun != 0)
        {
            // Translations tagged with this EP4TA may remain on every core that ran the domain; invalidate before the root is reused.
            actions.Add(MonitorAction.Invept(st.Handle, InveptType.SingleContext, EptPointer.Create(st.Ept.Root, _options.AccessedDirtyFlags), st.EverRun));
        }

        _journal.EmitReleases(actions, st.Handle);
        PushUndo(new Undo { Kind = UndoKind.DomainSlot, Index = st.Handle.Index, Object = st });
        _domains[st.Handle.Index] = null;
        _removedInTx.Add(st);
        return true;
    }

    // ------------------------------------------------------------------ devices (VT-d)

    private bool MoveDevice(IEngineView engine, DeviceId device, DomainHandle owner, MonitorActionList actions, out BackendRefusal refusal)
    {
        bool had = _deviceOwners.TryGetValue(device, out DomainHandle previous);
        if (had && previous == owner)
        {
            refusal = BackendRefusal.None;
            return true;
        }

        DomainState? target = null;
        if (!owner.IsInvalid && engine.IsLive(owner))
        {
            if (!EnsureState(owner, actions, out target, out refusal) || (target.Sl is null && !CreateSecondLevel(engine, target, actions, out refusal)))
            {
                return false;
            }
        }

        if (!WriteContext(device, target, actions, out refusal))
        {
            return false;
        }

        SetOwner(device, target is null ? DomainHandle.Invalid : owner);
        if (target is not null)
        {
            TouchDomain(target);
            target.DeviceCount++;
        }

        if (had && Find(previous) is { } old)
        {
            ReleaseDevice(old, actions);
        }

        return true;
    }

    private void SetOwner(DeviceId device, DomainHandle owner)
    {
        bool had = _deviceOwners.TryGetValue(device, out DomainHandle previous);
        PushUndo(new Undo { Kind = UndoKind.DeviceOwner, Device = device, Flag = had, Handle = previous });
        if (owner.IsInvalid)
        {
            _deviceOwners.Remove(device);
        }
        else
        {
            _deviceOwners[device] = owner;
        }
    }

    private void ReleaseDevice(DomainState st, MonitorActionList actions)
    {
        TouchDomain(st);
        st.DeviceCount--;
        if (st.DeviceCount > 0 || st.Sl is null)
        {
            return;
        }

        // Last device gone: the IOTLB for this domain id was invalidated when the context entry changed; free tables and id.
        _journal.BeginSession();
        PageTableEditor<SecondLevelFormat>.ReleaseTree(_sl, _journal, st.Sl.Root, PagingLevels.FourLevels);
        _journal.EmitReleases(actions, st.Handle);
        SetDomainId(st.Did, false);
        st.SlReleasedStamp = _stamp;
        st.Sl = null;
        st.Did = 0;
    }

    private bool CreateSecondLevel(IEngineView engine, DomainState st, MonitorActionList actions, out BackendRefusal refusal)
    {
        int did = 1;
        while (did < _didUsed.Length && _didUsed[did])
        {
            did++;
        }

        if (did == _didUsed.Length)
        {
            refusal = Refusal(BackendRefusalReason.OutOfDomainIds, st.Handle, 0, 1, 0);
            return false;
        }

        if (!_journal.TryAllocate(out ulong root))
        {
            refusal = OutOfFrames(st.Handle);
            return false;
        }

        TouchDomain(st);
        SetDomainId(did, true);
        st.Did = (ushort)did;
        if (st.SlSpace is null || st.SlReleasedStamp == _stamp)
        {
            // Never reuse a table object released earlier in this transaction: a rollback must find its contents intact.
            st.SlSpace = new AddressSpace();
        }

        st.SlSpace.Reset(root);
        st.Sl = st.SlSpace;
        st.DeviceCount = 0;
        if (!BuildPieces(engine, st.Handle, st, out refusal))
        {
            return false;
        }

        return UpdateSecondLevel(st, actions, out refusal);
    }

    /// <summary>Points the device's context entry at <paramref name="target"/>'s second-level table (or makes it not present).</summary>
    private bool WriteContext(DeviceId device, DomainState? target, MonitorActionList actions, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        int key = (device.Segment << 8) | device.Bus;
        if (!_contextTables.TryGetValue(key, out ulong context))
        {
            if (target is null)
            {
                return true; // Nothing was ever mapped on this bus: the device is already blocked.
            }

            if (!EnsureRootTable(device.Segment, out ulong rootTable, out refusal) || !_journal.TryAllocate(out context))
            {
                refusal = refusal.IsRefused ? refusal : OutOfFrames(DomainHandle.Invalid);
                return false;
            }

            PushUndo(new Undo { Kind = UndoKind.ContextTable, Index = key });
            _contextTables.Add(key, context);
            _journal.BeginSession();
            _journal.Write(rootTable + ((ulong)device.Bus * VtdEntry.EntrySize), (context & VtdEntry.PointerMask) | VtdEntry.RootPresent);
            _journal.EmitWrites(actions, DomainHandle.Invalid);
        }

        ulong entry = context + ((ulong)device.DevFn * VtdEntry.EntrySize);
        ulong oldLow = _journal.Read(entry);
        ulong oldHigh = _journal.Read(entry + VtdEntry.HighQwordOffset);
        ulong newLow = 0;
        ulong newHigh = 0;
        if (target is not null)
        {
            newLow = (target.Sl!.Root & VtdEntry.PointerMask & _sl.AddressMask) | VtdEntry.TranslationTypeUntranslated | VtdEntry.ContextPresent;
            newHigh = VtdEntry.AddressWidth48Bit4Level | ((ulong)target.Did << VtdEntry.DomainIdShift);
        }

        bool oldPresent = (oldLow & VtdEntry.ContextPresent) != 0;
        _journal.BeginSession();
        if (oldPresent)
        {
            _journal.Write(entry, 0); // Make the entry not present before changing the domain id (VT-d §6.5.3.3 ordering).
        }

        _journal.Write(entry + VtdEntry.HighQwordOffset, newHigh);
        _journal.Write(entry, newLow);
        _journal.EmitWrites(actions, DomainHandle.Invalid);
        if (_options.VtdWriteBufferFlush)
        {
            actions.Add(MonitorAction.WriteBufferFlush());
        }

        if (oldPresent)
        {
            // A present context entry changed: device-selective context-cache invalidation, then domain-selective IOTLB of the old id.
            ushort oldDid = (ushort)((oldHigh & VtdEntry.DomainIdMask) >> VtdEntry.DomainIdShift);
            actions.Add(MonitorAction.ContextCacheInvalidate(ContextCacheGranularity.DeviceSelective, oldDid, device));
            actions.Add(MonitorAction.IotlbInvalidate(DomainHandle.Invalid, IotlbGranularity.DomainSelective, oldDid));
        }
        else if (_options.VtdCachingMode && target is not null)
        {
            // Caching mode may cache not-present entries, tagged with domain id 0 (VT-d §6.1).
            actions.Add(MonitorAction.ContextCacheInvalidate(ContextCacheGranularity.DeviceSelective, 0, device));
        }

        return true;
    }

    private bool EnsureRootTable(ushort segment, out ulong rootTable, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        if (_rootTables.TryGetValue(segment, out rootTable))
        {
            return true;
        }

        if (!_journal.TryAllocate(out rootTable))
        {
            refusal = OutOfFrames(DomainHandle.Invalid);
            return false;
        }

        PushUndo(new Undo { Kind = UndoKind.RootTable, Index = segment });
        _rootTables.Add(segment, rootTable);
        return true;
    }

    private void SetDomainId(int did, bool used)
    {
        PushUndo(new Undo { Kind = UndoKind.DomainId, Index = did, Flag = _didUsed[did] });
        if (_didUsed[did] != used)
        {
            _didFree += used ? -1 : 1;
        }

        _didUsed[did] = used;
    }

    // ------------------------------------------------------------------ undo helpers

    private void TouchDomain(DomainState st)
    {
        if (st.Stamp == _stamp)
        {
            return;
        }

        st.Stamp = _stamp;
        PushUndo(new Undo
        {
            Kind = UndoKind.DomainScalars, Object = st, Object2 = st.Sl, A = st.EverRun, B = st.PendingInvept, Index = st.Did, Count = st.DeviceCount,
        });
    }

    private void TouchSpace(AddressSpace space)
    {
        if (space.Stamp == _stamp)
        {
            return;
        }

        space.Stamp = _stamp;
        space.SavedRoot = space.Root;
        space.SavedCurrent = space.Current;
        PushUndo(new Undo { Kind = UndoKind.Space, Object = space });
    }

    private void PushUndo(in Undo undo)
    {
        if (_undoCount == _undo.Length)
        {
            Array.Resize(ref _undo, _undo.Length * 2);
        }

        _undo[_undoCount++] = undo;
    }

    private static bool NamedEarlier(ReadOnlySpan<Update> updates, int index, DomainHandle domain)
    {
        for (int i = 0; i < index; i++)
        {
            if (updates[i].Kind == UpdateKind.DeviceUpdate && updates[i].Domain == domain)
            {
                return true;
            }
        }

        return false;
    }

    private BackendRefusal OutOfFrames(DomainHandle domain) =>
        new(BackendName, BackendRefusalReason.OutOfTableFrames, domain, 0, 1, (ulong)_journal.FreeFrames);

    private static BackendRefusal Refusal(BackendRefusalReason reason, DomainHandle domain, ulong address = 0, ulong needed = 0, ulong available = 0) =>
        new(BackendName, reason, domain, address, needed, available);

    private static UncacheableRange[] NormalizeRanges(IReadOnlyList<UncacheableRange> ranges)
    {
        var list = new List<UncacheableRange>(ranges.Count);
        foreach (UncacheableRange r in ranges)
        {
            if (r.End > r.Start)
            {
                list.Add(r);
            }
        }

        list.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<UncacheableRange>(list.Count);
        foreach (UncacheableRange r in list)
        {
            if (merged.Count > 0 && merged[^1].End >= r.Start)
            {
                merged[^1] = merged[^1] with { End = Math.Max(merged[^1].End, r.End) };
            }
            else
            {
                merged.Add(r);
            }
        }

        return [.. merged];
    }

    private enum UndoKind : byte
    {
        DomainSlot,
        DomainScalars,
        Space,
        DeviceOwner,
        DomainId,
        RootTable,
        ContextTable,
    }

    private struct Undo
    {
        public UndoKind Kind;
        public object? Object;
        public object? Object2;
        public ulong A;
        public ulong B;
        public int Index;
        public int Count;
        public DeviceId Device;
        public DomainHandle Handle;
        public bool Flag;
    }

    private sealed class DomainState
    {
        public DomainState(DomainHandle handle, ulong root, GpaRemapper remapper)
        {
            Handle = handle;
            Ept = new AddressSpace { Root = root };
            Remapper = remapper;
        }

        public DomainHandle Handle { get; private set; }

        public AddressSpace Ept { get; }

        public GpaRemapper Remapper { get; }

        /// <summary>The second-level table object kept for reuse; <see cref="Sl"/> is non-null while the domain owns devices.</summary>
        public AddressSpace? SlSpace { get; set; }

        public long SlReleasedStamp { get; set; } = -1;

        public void Reset(DomainHandle handle, ulong root)
        {
            Handle = handle;
            Ept.Reset(root);
            Remapper.Clear();
            Sl = null;
            Did = 0;
            DeviceCount = 0;
            EverRun = 0;
            PendingInvept = 0;
            Stamp = -1;
        }

        public AddressSpace? Sl { get; set; }

        public ushort Did { get; set; }

        public int DeviceCount { get; set; }

        public ulong EverRun { get; set; }

        public ulong PendingInvept { get; set; }

        public long Stamp { get; set; } = -1;
    }
}
