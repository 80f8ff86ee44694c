// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp;

/// <summary>
/// The RISC-V PMP isolation backend: one compiled <see cref="PmpImage"/> per domain, one register shadow per hart,
/// admission by entry count, and <see cref="MonitorActionKind.LoadCsr"/> + <see cref="MonitorActionKind.Fence"/>
/// actions for every switch and for every permission change of a running domain.
/// </summary>
/// <remarks>
/// <para>Admission measures every domain named by a <see cref="UpdateKind.CreateDomain"/> or
/// <see cref="UpdateKind.PermissionUpdate"/> against the entries left below the monitor's; a domain that would need
/// more is refused with <see cref="BackendRefusalReason.TooManyEntries"/> (needed and available counts) before
/// anything changes.</para>
/// <para>Switch writes are the difference between the hart's shadow and the target image
/// (<see cref="PmpCompiler.GetSwitchWrites"/>); a hart whose registers are not known yet (never loaded through this
/// backend) gets a full load. Recompiling a domain keeps unchanged entry groups at their indices, so one changed
/// region costs the fewest CSR writes on the harts running it. The fence follows Privileged ISA §3.7.2:
/// <c>sfence.vma x0, x0</c> when the hart translates addresses, plus <c>hfence.gvma x0, x0</c> with the hypervisor
/// extension.</para>
/// <para>Single-threaded, as the contract requires. After warm-up (pools at their working size) apply and admit do not allocate.</para>
/// </remarks>
public sealed class PmpBackend : IIsolationBackend
{
    private const string BackendName = "pmp";

    private readonly PmpCompiler _compiler;
    private readonly PmpImage[] _cores;
    private readonly bool[] _coreLoaded;
    private readonly PmpCsrWrite[] _writes;
    private readonly List<JournalEntry> _journal = new(64);
    private readonly Stack<PmpImage> _spare = new();
    private DomainSlot[] _domains = new DomainSlot[16];
    private MemoryPermission[] _permissions = new MemoryPermission[256];

    /// <summary>Creates the backend.</summary>
    /// <param name="options">The hart description (every hart is assumed identical).</param>
    /// <param name="monitorRegions">The monitor's own memory, compiled into the top-priority entries.</param>
    /// <param name="coreCount">Number of harts (1–64, bit <c>i</c> of a core map is hart <c>i</c>).</param>
    /// <exception cref="ArgumentException">Invalid options or monitor regions (see <see cref="PmpCompiler"/>).</exception>
    public PmpBackend(PmpHartOptions options, ReadOnlySpan<PmpMonitorRegion> monitorRegions = default, int coreCount = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(coreCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(coreCount, 64);
        _compiler = new PmpCompiler(options, monitorRegions);
        _cores = new PmpImage[coreCount];
        _coreLoaded = new bool[coreCount];
        for (int c = 0; c < coreCount; c++)
        {
            _cores[c] = _compiler.CreateImage();
        }

        _writes = new PmpCsrWrite[_compiler.MaxSwitchWrites];
        Limits = new HardwareLimits
        {
            PhysicalAddressBits = options.PhysicalAddressBits,
            GuestAddressBits = options.PhysicalAddressBits,
            Granularity = 1UL << (options.Granularity + PmpEncoding.AddressShift),
            MaxEntriesPerDomain = _compiler.DomainEntryCapacity,
            ExecuteOnly = true,
        };
    }

    /// <inheritdoc />
    public string Name => BackendName;

    /// <inheritdoc />
    public HardwareLimits Limits { get; }

    /// <summary>The compiler (hart options, monitor entries, capacity).</summary>
    public PmpCompiler Compiler => _compiler;

    /// <summary>Number of harts.</summary>
    public int CoreCount => _cores.Length;

    /// <summary>The compiled image of a domain, as the backend holds it.</summary>
    /// <param name="domain">The domain.</param>
    /// <param name="image">Its image (do not modify), or null.</param>
    /// <returns><see langword="false"/> when the backend has no image for the domain.</returns>
    public bool TryGetImage(DomainHandle domain, out PmpImage? image)
    {
        image = null;
        if (domain.IsInvalid || domain.Index >= _domains.Length || !_domains[domain.Index].Live || _domains[domain.Index].Generation != domain.Generation)
        {
            return false;
        }

        image = _domains[domain.Index].Image;
        return image is not null;
    }

    /// <summary>The backend's shadow of a hart's PMP registers (what it believes the hart holds).</summary>
    /// <param name="core">The hart.</param>
    /// <returns>The shadow image (do not modify).</returns>
    public PmpImage GetCoreShadow(int core) => _cores[core];

    /// <summary>Whether the backend knows the registers of <paramref name="core"/> (it loaded them at least once).</summary>
    /// <param name="core">The hart.</param>
    /// <returns><see langword="true"/> after the first load.</returns>
    public bool IsCoreLoaded(int core) => _coreLoaded[core];

    /// <summary>
    /// Loads a domain's image on a hart outside the update stream (boot, or a domain started with
    /// <c>TryStartDomainOnCore</c>, which queues no switch update): appends the CSR writes and the fence.
    /// </summary>
    /// <param name="domain">The domain.</param>
    /// <param name="core">The hart.</param>
    /// <param name="actions">Receives the actions.</param>
    /// <returns><see langword="false"/> when the backend has no image for the domain or the core is out of range (nothing appended).</returns>
    public bool TryLoad(DomainHandle domain, int core, MonitorActionList actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        if ((uint)core >= (uint)_cores.Length || !TryGetImage(domain, out PmpImage? image) || image is null)
        {
            return false;
        }

        EmitLoads(domain, image, 1UL << core, actions, journal: false);
        return true;
    }

    /// <inheritdoc />
    public bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(engine);
        refusal = BackendRefusal.None;
        foreach (ref readonly Update u in updates)
        {
            // A hart this backend does not model cannot be given an image: refuse rather than leave stale PMP settings.
            ulong cores = u.Kind == UpdateKind.Switch ? (u.Core is >= 0 and < 64 ? 1UL << u.Core : ulong.MaxValue) : u.Kind == UpdateKind.PermissionUpdate ? u.CoreMap : 0;
            if ((cores & ~CoreMask) != 0)
            {
                refusal = new BackendRefusal(BackendName, BackendRefusalReason.InconsistentState, u.Domain, 0,
                    (ulong)(64 - System.Numerics.BitOperations.LeadingZeroCount(cores)), (ulong)_cores.Length);
                return false;
            }

            bool compiles = u.Kind is UpdateKind.CreateDomain or UpdateKind.PermissionUpdate || (u.Kind == UpdateKind.Switch && !TryGetImage(u.Domain, out _));
            if (!compiles || !engine.IsLive(u.Domain))
            {
                continue;
            }

            if (!TryReadPermissions(engine, u.Domain, out int count))
            {
                refusal = new BackendRefusal(BackendName, BackendRefusalReason.InconsistentState, u.Domain);
                return false;
            }

            PmpCompileResult result = _compiler.Measure(_permissions.AsSpan(0, count));
            if (!result.IsOk)
            {
                refusal = ToRefusal(result, u.Domain);
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(actions);
        refusal = BackendRefusal.None;
        Rollback(); // a previous apply that was neither committed nor rolled back is undone first
        foreach (ref readonly Update u in updates)
        {
            switch (u.Kind)
            {
                case UpdateKind.CreateDomain:
                case UpdateKind.PermissionUpdate:
                    if (!engine.IsLive(u.Domain))
                    {
                        continue;
                    }

                    if (!Recompile(engine, u.Domain, out refusal))
                    {
                        Rollback();
                        return false;
                    }

                    if (u.Kind == UpdateKind.PermissionUpdate && u.CoreMap != 0)
                    {
                        EmitLoads(u.Domain, _domains[u.Domain.Index].Image!, u.CoreMap & CoreMask, actions, journal: true);
                    }

                    break;
                case UpdateKind.Switch:
                    // A domain the backend has not compiled yet (e.g. created before the backend was attached) is compiled now:
                    // a switch must never leave the previous domain's entries on the hart.
                    if (!TryGetImage(u.Domain, out PmpImage? image) && !Recompile(engine, u.Domain, out refusal))
                    {
                        Rollback();
                        return false;
                    }

                    EmitLoads(u.Domain, _domains[u.Domain.Index].Image!, 1UL << u.Core, actions, journal: true);
                    break;
                case UpdateKind.RevokeDomain:
                    if (TryGetImage(u.Domain, out _))
                    {
                        _journal.Add(JournalEntry.ForDomain(u.Domain.Index, _domains[u.Domain.Index]));
                        _domains[u.Domain.Index] = default;
                    }

                    break;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public void Commit()
    {
        // Saved copies and images of revoked domains go back to the pool.
        foreach (JournalEntry e in _journal)
        {
            if (e.Saved is not null && (e.Kind != JournalKind.Domain || !ReferenceEquals(e.Saved, _domains[e.Index].Image)))
            {
                _spare.Push(e.Saved);
            }
        }

        _journal.Clear();
    }

    /// <inheritdoc />
    public void Rollback()
    {
        for (int i = _journal.Count - 1; i >= 0; i--)
        {
            JournalEntry e = _journal[i];
            if (e.Kind == JournalKind.Core)
            {
                e.Saved!.CopyTo(_cores[e.Index]);
                _spare.Push(e.Saved);
                _coreLoaded[e.Index] = e.Loaded;
                continue;
            }

            if (e.Kind == JournalKind.DomainImage)
            {
                // The image object stays; its previous content comes back.
                e.Saved!.CopyTo(_domains[e.Index].Image!);
                _spare.Push(e.Saved);
                continue;
            }

            PmpImage? current = _domains[e.Index].Image;
            if (current is not null && !ReferenceEquals(current, e.Saved))
            {
                _spare.Push(current);
            }

            _domains[e.Index] = new DomainSlot(e.Saved, e.Generation, e.Live);
        }

        _journal.Clear();
    }

    private ulong CoreMask => _cores.Length == 64 ? ulong.MaxValue : (1UL << _cores.Length) - 1;

    private bool Recompile(IEngineView engine, DomainHandle domain, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        if (!TryReadPermissions(engine, domain, out int count))
        {
            refusal = new BackendRefusal(BackendName, BackendRefusalReason.InconsistentState, domain);
            return false;
        }

        ReadOnlySpan<MemoryPermission> ranges = _permissions.AsSpan(0, count);
        PmpCompileResult measured = _compiler.Measure(ranges);
        if (!measured.IsOk)
        {
            refusal = ToRefusal(measured, domain);
            return false;
        }

        EnsureSlot(domain.Index);
        DomainSlot slot = _domains[domain.Index];
        if (slot.Live && slot.Generation == domain.Generation && slot.Image is not null)
        {
            PmpImage saved = Rent();
            slot.Image.CopyTo(saved);
            _journal.Add(new JournalEntry(JournalKind.DomainImage, domain.Index, saved, 0, false, false));
            _compiler.Compile(ranges, slot.Image, slot.Image);
            return true;
        }

        // New domain (or a slot reused by a new generation): a fresh image.
        _journal.Add(JournalEntry.ForDomain(domain.Index, slot));
        PmpImage image = Rent();
        _compiler.Compile(ranges, image);
        _domains[domain.Index] = new DomainSlot(image, domain.Generation, true);
        return true;
    }

    /// <summary>Appends the CSR writes (grouped by harts whose shadows agree) and the fence, and updates the shadows.</summary>
    private void EmitLoads(DomainHandle domain, PmpImage image, ulong coreMap, MonitorActionList actions, bool journal)
    {
        ulong pending = coreMap;
        while (pending != 0)
        {
            int first = System.Numerics.BitOperations.TrailingZeroCount(pending);
            ulong group = 0;
            for (ulong rest = pending; rest != 0; rest &= rest - 1)
            {
                int c = System.Numerics.BitOperations.TrailingZeroCount(rest);
                if (_coreLoaded[c] == _coreLoaded[first] && (!_coreLoaded[c] || _cores[c].ContentEquals(_cores[first])))
                {
                    group |= 1UL << c;
                }
            }

            pending &= ~group;
            int written;
            PmpFence fence;
            if (_coreLoaded[first])
            {
                _compiler.GetSwitchWrites(_cores[first], image, _writes, out written, out fence);
            }
            else
            {
                _compiler.GetLoadWrites(image, _writes, out written, out fence);
            }

            ReadOnlySpan<PmpCsrWrite> writes = _writes.AsSpan(0, written);
            foreach (PmpCsrWrite w in writes)
            {
                actions.Add(MonitorAction.LoadCsr(domain, w.Csr, w.Value, group));
            }

            if ((fence & PmpFence.SfenceVma) != 0)
            {
                actions.Add(MonitorAction.FenceOn(domain, FenceKind.SfenceVma, group));
            }

            if ((fence & PmpFence.HfenceGvma) != 0)
            {
                actions.Add(MonitorAction.FenceOn(domain, FenceKind.HfenceGvma, group));
            }

            for (ulong rest = group; rest != 0; rest &= rest - 1)
            {
                int c = System.Numerics.BitOperations.TrailingZeroCount(rest);
                if (journal)
                {
                    PmpImage saved = Rent();
                    _cores[c].CopyTo(saved);
                    _journal.Add(new JournalEntry(JournalKind.Core, c, saved, 0, false, _coreLoaded[c]));
                }

                _compiler.ApplyWrites(_cores[c], writes);
                _coreLoaded[c] = true;
            }
        }
    }

    private bool TryReadPermissions(IEngineView engine, DomainHandle domain, out int count)
    {
        int needed = engine.GetPermissionCount(domain);
        if (needed > _permissions.Length)
        {
            _permissions = new MemoryPermission[Math.Max(needed, _permissions.Length * 2)];
        }

        return engine.TryGetPermissions(domain, _permissions, out count);
    }

    private void EnsureSlot(int index)
    {
        if (index >= _domains.Length)
        {
            Array.Resize(ref _domains, Math.Max(index + 1, _domains.Length * 2));
        }
    }

    private PmpImage Rent() => _spare.Count > 0 ? _spare.Pop() : _compiler.CreateImage();

    private BackendRefusal ToRefusal(PmpCompileResult result, DomainHandle domain) => result.Status switch
    {
        PmpStatus.TooManyEntries => new BackendRefusal(BackendName, BackendRefusalReason.TooManyEntries, domain, 0, (ulong)result.EntriesNeeded, (ulong)result.EntriesAvailable),
        PmpStatus.Misaligned => new BackendRefusal(BackendName, BackendRefusalReason.MisalignedRange, domain,
            (result.Start & (Limits.Granularity - 1)) != 0 ? result.Start : result.End, 0, Limits.Granularity),
        PmpStatus.AddressOutOfRange => new BackendRefusal(BackendName, BackendRefusalReason.AddressTooWide, domain, result.End, 0, (ulong)Limits.PhysicalAddressBits),
        _ => new BackendRefusal(BackendName, BackendRefusalReason.InconsistentState, domain, result.Start),
    };

    private readonly record struct DomainSlot(PmpImage? Image, uint Generation, bool Live);

    private enum JournalKind : byte
    {
        Domain,
        DomainImage,
        Core,
    }

    private readonly record struct JournalEntry(JournalKind Kind, int Index, PmpImage? Saved, uint Generation, bool Live, bool Loaded)
    {
        public static JournalEntry ForDomain(int index, DomainSlot slot) => new(JournalKind.Domain, index, slot.Image, slot.Generation, slot.Live, false);
    }
}
