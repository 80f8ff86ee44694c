// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Tyche.Capabilities.Tests.Model;

/// <summary>
/// Drives a <see cref="CapabilityEngine"/> and the <see cref="ReferenceModel"/> with the same random operations and
/// compares them after every step: the result code, every capability of every domain, trackers, permissions, the
/// memory map, free capacities, cores, the update stream and <c>CheckInvariants</c>.
/// </summary>
internal sealed class ModelHarness
{
    private static readonly ulong[] Grid = [0x0, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x80, 0xa0, 0xc0, 0xf0, 0x100, 0x140, 0x180, 0x200];

    private readonly SeededRandom _rng;
    private readonly List<string> _log = new();
    private int _step;

    public ModelHarness(EngineCapacities capacities, ulong seed, bool devices = true)
    {
        Capacities = capacities;
        Seed = seed;
        Engine = new CapabilityEngine(capacities);
        Model = new ReferenceModel(capacities);
        _rng = new SeededRandom(seed);
        WithDevices = devices;
    }

    public EngineCapacities Capacities { get; }

    public ulong Seed { get; }

    public CapabilityEngine Engine { get; }

    public ReferenceModel Model { get; }

    public bool WithDevices { get; }

    /// <summary>Per operation name: how many calls succeeded and how many failed (coverage report).</summary>
    public Dictionary<string, (int Ok, int Error)> Stats { get; init; } = new();

    /// <summary>
    /// <c>TYCHE_MODEL_SKIP_KNOWN=1</c>: no ranges ending at 2^64−1 and no VITAL regions, to explore past two known engine
    /// bugs (BadInputTests.Ranges_at_the_top_of_the_address_space_work_and_do_not_overflow and RevocationCascadeTests).
    /// For local bug hunting only; never set in CI.
    /// </summary>
    private static bool SkipKnown => Environment.GetEnvironmentVariable("TYCHE_MODEL_SKIP_KNOWN") == "1";

    /// <summary>Whether every failing operation must leave <c>DumpState()</c> and the free capacities unchanged.</summary>
    public bool CheckDumpOnError { get; init; } = true;

    /// <summary>Boots like the upstream tests: manager with all permissions on core 0 with a root region, then <paramref name="steps"/> random operations.</summary>
    public void Run(int steps)
    {
        Do("boot", () =>
        {
            CapabilityError e = Engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0);
            return (e, () => Model.CreateManagerDomain(DomainPermissions.All, d0));
        });
        DomainHandle manager = Model.Domains[0].Handle;
        Do("start d0 on core 0", () => (Engine.TryStartDomainOnCore(manager, 0), () => Model.StartDomainOnCore(manager, 0)));
        var root = new AccessRights(0, 0x200, MemoryOperations.All);
        Do("root [0, 0x200) RWXSH", () =>
        {
            CapabilityError e = Engine.TryCreateRootRegion(manager, root, out LocalCapability r);
            return (e, () => Model.CreateRootRegion(manager, root, r.Index));
        });
        for (int i = 0; i < steps; i++)
        {
            RandomStep();
        }

        DrainAndCompare();
    }

    // ------------------------------------------------------------------ one operation

    private void Do(string description, Func<(CapabilityError Engine, Action Model)> operation) =>
        Do(description, operation, null);

    private void Do(string description, Func<(CapabilityError Engine, Action Model)> operation, Action? afterOk)
    {
        _step++;
        string? before = CheckDumpOnError ? Verification.EngineState.DumpOf(Engine) : null;
        FreeCapacity freeBefore = Engine.GetFreeCapacity();
        (CapabilityError actual, Action modelAction) = operation();
        if (actual != CapabilityError.Ok && before is not null && (Verification.EngineState.DumpOf(Engine) != before || Engine.GetFreeCapacity() != freeBefore))
        {
            _log.Add(string.Create(CultureInfo.InvariantCulture, $"{_step,3}: {description} -> engine {actual}"));
            Fail($"the failed operation changed the engine state (dump or free capacity differ)");
        }

        CapabilityError expected = CapabilityError.Ok;
        Model.EngineResult = actual;
        try
        {
            expected = Model.Run(modelAction);
        }
        catch (ModelMismatchException e) when (!e.Message.Contains("TYCHE_SEED", StringComparison.Ordinal))
        {
            _log.Add(string.Create(CultureInfo.InvariantCulture, $"{_step,3}: {description} -> engine {actual}"));
            Fail(e.Message);
        }

        _log.Add(string.Create(CultureInfo.InvariantCulture, $"{_step,3}: {description} -> engine {actual}, model {expected}"));
        string name = description.Split('(')[0];
        Stats.TryGetValue(name, out (int Ok, int Error) counts);
        Stats[name] = actual == CapabilityError.Ok ? (counts.Ok + 1, counts.Error) : (counts.Ok, counts.Error + 1);
        if (actual != expected)
        {
            Fail($"result differs: engine {actual}, model {expected}");
        }

        if (expected == CapabilityError.Ok)
        {
            PlaceUnplaced();
            afterOk?.Invoke();
        }

        Compare();
    }

    public void Fail(string message)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Model-based test failed at step {_step}: {message}\n");
        text.Append(CultureInfo.InvariantCulture, $"Replay with TYCHE_SEED={Seed}\nLast operations:\n");
        foreach (string line in _log.Skip(Math.Max(0, _log.Count - 40)))
        {
            text.Append("  ").Append(line).Append('\n');
        }

        throw new ModelMismatchException(text.ToString());
    }

    /// <summary>Finds the slots of capabilities the API did not report (e.g. a switch's return capability).</summary>
    private void PlaceUnplaced()
    {
        foreach (var group in Model.Unplaced.GroupBy(x => x.Domain).ToList())
        {
            MDomain d = group.Key;
            var candidates = new List<(int Index, CapabilityInfo Info)>();
            for (int i = 0; i < Capacities.CapabilitiesPerDomain; i++)
            {
                if (!d.Table.ContainsKey(i) && Engine.TryGetCapabilityInfo(d.Handle, i, out CapabilityInfo info) == CapabilityError.Ok)
                {
                    candidates.Add((i, info));
                }
            }

            foreach ((MDomain _, MCap cap) in group)
            {
                CapabilityInfo want = Model.Info(cap);
                int at = candidates.FindIndex(c => c.Info == want);
                if (at < 0)
                {
                    Fail($"the engine has no new slot holding {want} in domain {d.Id}");
                }

                Model.Place(d, cap, candidates[at].Index);
                foreach (MUpdate u in Model.Updates.Where(u => ReferenceEquals(u.ReturnCap, cap)))
                {
                    u.ReturnIndex = candidates[at].Index;
                }

                candidates.RemoveAt(at);
            }
        }

        Model.Unplaced.Clear();
    }

    // ------------------------------------------------------------------ comparison

    public void Compare()
    {
        try
        {
            Model.SelfCheck();
        }
        catch (InvalidOperationException e)
        {
            Fail(e.Message);
        }

        var live = Model.Live.ToList();
        Span<DomainHandle> handles = stackalloc DomainHandle[Capacities.Domains];
        int count = Engine.GetDomains(handles);
        if (Engine.DomainCount != live.Count || count != live.Count
            || !handles[..count].ToArray().ToHashSet().SetEquals(live.Select(d => d.Handle)))
        {
            Fail($"live domains differ: engine [{string.Join(", ", handles[..count].ToArray())}] (count {Engine.DomainCount}), model [{string.Join(", ", live.Select(d => d.Handle))}]");
        }

        foreach (MDomain d in Model.Domains)
        {
            if (Engine.IsLive(d.Handle) != d.Alive)
            {
                Fail($"IsLive({d.Handle}) is {!d.Alive}, model says {d.Alive}");
            }
        }

        foreach (MDomain d in live)
        {
            CompareDomain(d);
        }

        CompareGlobal();
    }

    private void CompareDomain(MDomain d)
    {
        if (Engine.TryGetDomainInfo(d.Handle, out DomainInfo info) != CapabilityError.Ok)
        {
            Fail($"TryGetDomainInfo({d.Handle}) failed for a live domain");
        }

        var want = new DomainInfo(d.Id, d.Manager?.Handle ?? DomainHandle.Invalid, d.Sealed, d.Io, d.Running, d.Core,
            (DomainPermissions)d.Perm, d.Trap);
        if (info != want)
        {
            Fail($"domain info of {d.Handle}: engine {info}, model {want}");
        }

        for (int i = 0; i < Capacities.CapabilitiesPerDomain; i++)
        {
            CapabilityError e = Engine.TryGetCapabilityInfo(d.Handle, i, out CapabilityInfo ci);
            if (!d.Table.TryGetValue(i, out MCap? cap))
            {
                if (e != CapabilityError.CapabilityDoesNotExist)
                {
                    Fail($"slot {i} of d{d.Id} is free in the model, engine says {e} {(e == CapabilityError.Ok ? ci.ToString() : string.Empty)}");
                }
            }
            else if (cap.IsDead)
            {
                // Allocated but dead (tombstone or dead target): still allocated in the engine too, until enumeration or
                // a full table reclaims it. CapabilityDoesNotExist here would mean the engine reclaimed it behind the
                // model's back (a garbage-collection divergence).
                if (e != CapabilityError.InvalidCapa)
                {
                    Fail($"slot {i} of d{d.Id} holds a dead capability in the model, engine says {e} {(e == CapabilityError.Ok ? ci.ToString() : string.Empty)}");
                }
            }
            else
            {
                CapabilityInfo expected = Model.Info(cap);
                if (e != CapabilityError.Ok || ci != expected)
                {
                    Fail($"slot {i} of d{d.Id}: engine {e} {ci}, model {expected}");
                }

                if (cap.Kind == CapabilityKind.Region)
                {
                    CompareRegion(d, i, cap.Region!);
                }
            }
        }

        if (Engine.TryGetCapabilityInfo(d.Handle, -1, out _) != CapabilityError.CapabilityDoesNotExist
            || Engine.TryGetCapabilityInfo(d.Handle, Capacities.CapabilitiesPerDomain, out _) != CapabilityError.CapabilityDoesNotExist)
        {
            Fail("an out-of-range local index is not CapabilityDoesNotExist");
        }

        List<TrackerSegment> tracker = Model.Tracker(d);
        int n = Engine.GetTrackerSegmentCount(d.Handle);
        var segments = new TrackerSegment[Math.Max(n, 1)];
        if (Engine.TryGetTrackerSegments(d.Handle, segments, out int written) != CapabilityError.Ok || written != n
            || !segments.Take(written).SequenceEqual(tracker))
        {
            Fail($"tracker of d{d.Id}: engine {{{string.Join(" -> ", segments.Take(written))}}} (count {n}), model {{{string.Join(" -> ", tracker)}}}");
        }

        List<MemoryPermission> permissions = ReferenceModel.Permissions(tracker);
        n = Engine.GetPermissionCount(d.Handle);
        var perms = new MemoryPermission[Math.Max(n, 1)];
        if (Engine.TryGetPermissions(d.Handle, perms, out written) != CapabilityError.Ok || written != n
            || !perms.Take(written).SequenceEqual(permissions))
        {
            Fail($"permissions of d{d.Id}: engine {{{string.Join(", ", perms.Take(written))}}}, model {{{string.Join(", ", permissions)}}}");
        }

        if (WithDevices)
        {
            Span<DeviceId> devices = stackalloc DeviceId[Math.Max(Capacities.Devices, 1)];
            int dn = Engine.GetDevices(d.Handle, devices);
            var expected = Model.Devices.Where(x => ReferenceEquals(x.Owner, d)).Select(x => x.Id).ToHashSet();
            if (dn != expected.Count || !devices[..dn].ToArray().ToHashSet().SetEquals(expected))
            {
                Fail($"devices of d{d.Id}: engine [{string.Join(", ", devices[..dn].ToArray())}], model [{string.Join(", ", expected)}]");
            }
        }
    }

    private void CompareRegion(MDomain d, int index, MRegion r)
    {
        if (Engine.TryGetRegionInfo(d.Handle, index, out AccessRights access, out CleanupPolicy cleanup, out RegionHash hash, out bool hasHash)
            != CapabilityError.Ok)
        {
            Fail($"TryGetRegionInfo(d{d.Id}, {index}) failed for a live region");
        }

        if (access != new AccessRights(r.Start, r.End, r.Ops) || hasHash != r.Hash.HasValue || (hasHash && hash != r.Hash!.Value)
            || ((r.Ops & MemoryOperations.Cleanup) != 0 && cleanup != r.Cleanup))
        {
            Fail($"region info of d{d.Id} slot {index}: engine {access} cleanup {cleanup} hash {hasHash}, model [0x{r.Start:x}, 0x{r.End:x}) {r.Ops} cleanup {r.Cleanup} hash {r.Hash.HasValue}");
        }

        Span<AccessRights> pieces = stackalloc AccessRights[Capacities.Regions + 1];
        var want = ReferenceModel.Effective(r).Select(p => new AccessRights(p.Start, p.End, r.Ops)).ToList();
        if (Engine.TryGetEffectiveRegions(d.Handle, index, pieces, out int written) != CapabilityError.Ok
            || !pieces[..written].ToArray().SequenceEqual(want))
        {
            Fail($"effective regions of d{d.Id} slot {index}: engine [{string.Join(", ", pieces[..written].ToArray())}], model [{string.Join(", ", want)}]");
        }
    }

    private void CompareGlobal()
    {
        var map = Model.MemoryMap();
        int n = Engine.GetMemoryMapLength();
        var segments = new MemoryMapSegment[Math.Max(n, 1)];
        var want = map.Select(m => new MemoryMapSegment(m.Start, m.End, m.Accessors.Select(a => a.Domain).Distinct().Count())).ToList();
        if (Engine.TryGetMemoryMap(segments, out int written) != CapabilityError.Ok || written != n || !segments.Take(written).SequenceEqual(want))
        {
            Fail($"memory map: engine {{{string.Join(", ", segments.Take(written))}}}, model {{{string.Join(", ", want)}}}");
        }

        if (map.Count > 0)
        {
            var m = map[_rng.Next(map.Count)];
            ulong address = m.Start + (ulong)_rng.Next((int)Math.Min(m.End - m.Start, 0x1000UL));
            Span<MemoryAccessor> accessors = stackalloc MemoryAccessor[Capacities.Domains];
            var expected = m.Accessors.Select(a => new MemoryAccessor(a.Domain.Handle, a.Ops)).ToHashSet();
            if (Engine.TryGetAccessors(address, accessors, out int an) != CapabilityError.Ok || an != expected.Count
                || !accessors[..an].ToArray().ToHashSet().SetEquals(expected))
            {
                Fail($"accessors of 0x{address:x}: engine [{string.Join(", ", accessors[..an].ToArray())}], model [{string.Join(", ", expected)}]");
            }
        }

        FreeCapacity free = Engine.GetFreeCapacity();
        int trackerNodes = Model.Live.Sum(d => Model.Tracker(d).Count);
        var wantFree = new FreeCapacity(
            Capacities.Domains - Model.Live.Count(),
            Capacities.Regions - Model.Regions.Count,
            Capacities.TrackerNodes - trackerNodes,
            Capacities.PendingUpdates - Model.Updates.Count,
            Capacities.Devices - Model.Devices.Count);
        if (free != wantFree)
        {
            Fail($"free capacity: engine {free}, model {wantFree}");
        }

        if (Engine.PendingUpdateCount != Model.Updates.Count)
        {
            Fail($"pending updates: engine {Engine.PendingUpdateCount}, model {Model.Updates.Count}");
        }

        Span<DomainHandle> allowed = stackalloc DomainHandle[Capacities.Domains];
        for (int core = 0; core < Capacities.Cores; core++)
        {
            CapabilityError e = Engine.TryGetRunningDomain(core, out DomainHandle running);
            MDomain? expected = Model.Cores[core];
            if (Model.CoreInitialized[core] ? (e != CapabilityError.Ok || running != expected!.Handle) : e == CapabilityError.Ok)
            {
                Fail($"core {core}: engine {e} {running}, model {(Model.CoreInitialized[core] ? expected!.Handle.ToString() : "not started")}");
            }

            int an = Engine.GetDomainsAllowedOnCore(core, allowed);
            var wantAllowed = Model.Live.Where(d => (d.Core & (1UL << core)) != 0).Select(d => d.Handle).ToHashSet();
            if (an != wantAllowed.Count || !allowed[..an].ToArray().ToHashSet().SetEquals(wantAllowed))
            {
                Fail($"domains allowed on core {core}: engine [{string.Join(", ", allowed[..an].ToArray())}], model [{string.Join(", ", wantAllowed)}]");
            }
        }

        if (WithDevices)
        {
            foreach (MDevice device in Model.Devices)
            {
                if (Engine.TryGetDeviceOwner(device.Id, out DomainHandle owner) != CapabilityError.Ok || owner != device.Owner.Handle)
                {
                    Fail($"owner of {device.Id}: engine {owner}, model {device.Owner.Handle}");
                }
            }
        }

        Span<InvariantViolation> violations = stackalloc InvariantViolation[8];
        int v = Engine.CheckInvariants(violations);
        if (v != 0)
        {
            Fail($"CheckInvariants reports {v} violation(s): {string.Join(", ", violations[..Math.Min(v, violations.Length)].ToArray())}");
        }
    }

    private void ComparePopped(Update actual, MUpdate? expected)
    {
        if (expected is null)
        {
            Fail($"engine popped {actual}, the model queue is empty");
            return;
        }

        var want = new Update(expected.Kind, expected.Domain?.Handle ?? DomainHandle.Invalid, expected.CoreMap, expected.Core,
            new LocalCapability(expected.ReturnIndex), expected.Trap, expected.Info, expected.Start, expected.End, expected.Policy, expected.Device);
        if (actual != want)
        {
            Fail($"popped update: engine {actual}, model {want}");
        }
    }

    public void DrainAndCompare()
    {
        _step++;
        _log.Add($"{_step,3}: drain");
        while (Engine.TryPopUpdate(out Update u))
        {
            ComparePopped(u, Model.Pop());
        }

        if (Model.Updates.Count != 0)
        {
            Fail($"engine queue empty, model still has {Model.Updates.Count} update(s), first {Model.Updates[0].Kind}");
        }

        Compare();
    }

    // ------------------------------------------------------------------ random operations

    private DomainHandle PickDomain()
    {
        var live = Model.Live.ToList();
        int roll = _rng.Next(100);
        if (roll < 4)
        {
            var dead = Model.Domains.Where(d => !d.Alive).ToList();
            if (dead.Count > 0)
            {
                return _rng.Pick(dead).Handle;
            }
        }

        if (roll < 6)
        {
            return _rng.Next(3) switch
            {
                0 => DomainHandle.Invalid,
                1 => new DomainHandle(Capacities.Domains + _rng.Next(3), 0),
                _ => new DomainHandle(live.Count > 0 ? live[0].Handle.Index : 0, (live.Count > 0 ? live[0].Handle.Generation : 0) + 1),
            };
        }

        // Prefer the manager and domains that hold something.
        return live.Count == 0 ? DomainHandle.Invalid : _rng.Chance(40) ? live[0].Handle : _rng.Pick(live).Handle;
    }

    private MDomain? Of(DomainHandle h) => Model.TryDomain(h);

    private int PickIndex(DomainHandle h, params CapabilityKind[] preferred)
    {
        MDomain? d = Of(h);
        int roll = _rng.Next(100);
        if (d is not null && roll < 88)
        {
            var live = d.Table.Where(kv => !kv.Value.IsDead && (preferred.Length == 0 || preferred.Contains(kv.Value.Kind))).Select(kv => kv.Key).ToList();
            if (live.Count > 0 && roll < 78)
            {
                return _rng.Pick(live);
            }

            var any = d.Table.Keys.ToList();
            if (any.Count > 0)
            {
                return _rng.Pick(any);
            }
        }

        return _rng.Next(4) switch
        {
            0 => -1 - _rng.Next(3),
            1 => Capacities.CapabilitiesPerDomain + _rng.Next(3),
            2 => int.MaxValue,
            _ => _rng.Next(Capacities.CapabilitiesPerDomain),
        };
    }

    private MRegion? RegionAt(DomainHandle h, int index) =>
        Of(h) is MDomain d && d.Table.TryGetValue(index, out MCap? c) && c.Region is not null ? c.Region : null;

    private AccessRights PickRange(MRegion? parent, MemoryOperations ops)
    {
        int roll = _rng.Next(100);
        if (parent is not null && roll < 70)
        {
            var inside = Grid.Where(g => g >= parent.Start && g <= parent.End).Append(parent.Start).Append(parent.End).Distinct().OrderBy(g => g).ToList();
            ulong a = _rng.Pick(inside), b = _rng.Pick(inside);
            return new AccessRights(Math.Min(a, b), Math.Max(a, b), ops);
        }

        if (roll < 85)
        {
            ulong a = _rng.Pick(Grid), b = _rng.Pick(Grid);
            return new AccessRights(Math.Min(a, b), Math.Max(a, b), ops);
        }

        return _rng.Next(4) switch
        {
            0 => new AccessRights(0x100, 0x80, ops), // start > end
            1 when SkipKnown => new AccessRights(0x1000, 0x1100, ops),
            1 => new AccessRights(ulong.MaxValue - 0x100, ulong.MaxValue, ops),
            2 => new AccessRights(ulong.MaxValue, ulong.MaxValue, ops),
            _ => new AccessRights(0x40, 0x40, ops), // empty
        };
    }

    private MemoryOperations PickOps(MRegion? parent)
    {
        MemoryOperations baseOps = parent?.Ops ?? MemoryOperations.All;
        int roll = _rng.Next(100);
        MemoryOperations ops = roll switch
        {
            < 45 => baseOps & ~MemoryOperations.Attributes,
            < 80 => (MemoryOperations)((int)baseOps & _rng.Next(16)) | MemoryOperations.Read,
            _ => (MemoryOperations)_rng.Next(128),
        };
        if (_rng.Chance(12))
        {
            ops |= MemoryOperations.Cleanup;
        }

        if (_rng.Chance(5))
        {
            ops |= MemoryOperations.Vital;
        }

        if (SkipKnown)
        {
            ops &= ~MemoryOperations.Vital;
        }

        if (_rng.Chance(8))
        {
            ops |= MemoryOperations.Hash;
        }

        return ops;
    }

    private CleanupPolicy PickPolicy() => _rng.Next(3) switch
    {
        0 => CleanupPolicy.Zero,
        1 => CleanupPolicy.Flush,
        _ => CleanupPolicy.ZeroAndFlush,
    };

    private ConfigurationBitmap PickBitmap() => _rng.Chance(96) ? (ConfigurationBitmap)_rng.Next(3) : (ConfigurationBitmap)(3 + _rng.Next(5));

    private ulong PickConfigValue(ConfigurationBitmap bitmap) => bitmap switch
    {
        ConfigurationBitmap.Permission => _rng.Chance(50) ? (ulong)DomainPermissions.All : _rng.Chance(90) ? (ulong)_rng.Next(32) : 1UL << _rng.Next(64),
        ConfigurationBitmap.Core => _rng.Chance(60) ? (1UL << Capacities.Cores) - 1 : (ulong)_rng.Next(1 << Capacities.Cores),
        _ => _rng.Chance(50) ? 0UL : _rng.NextULong(),
    };

    private int PickCore() => _rng.Chance(95) ? _rng.Next(Capacities.Cores) : _rng.Chance(50) ? -1 : Capacities.Cores + _rng.Next(2);

    private static string H(DomainHandle h) => h.ToString();

    public void RandomStep()
    {
        int op = _rng.Next(WithDevices ? 33 : 31);
        DomainHandle d = PickDomain();
        if (op == 29)
        {
            ConfigureChild(d); // makes seal, switch and violation handling reachable
            return;
        }

        op = op switch { 30 => 7, 31 => 29, 32 => 30, _ => op };
        switch (op)
        {
            case 0:
            case 1:
            {
                bool io = op == 1;
                Do($"create{(io ? "Io" : string.Empty)}Domain({H(d)})", () =>
                {
                    LocalCapability m;
                    CapabilityError e = io ? Engine.TryCreateIoDomain(d, out m) : Engine.TryCreateDomain(d, out m);
                    return (e, () => Model.CreateDomain(d, io, m.Index, () =>
                    {
                        if (e != CapabilityError.Ok)
                        {
                            return DomainHandle.Invalid; // the result codes differ; Do reports it
                        }

                        if (Engine.TryGetDomainHandle(d, m, out DomainHandle child) != CapabilityError.Ok)
                        {
                            Fail("TryGetDomainHandle failed on a fresh management capability");
                        }

                        return child;
                    }));
                });
                break;
            }

            case 2:
            {
                int c = PickIndex(d, CapabilityKind.Management, CapabilityKind.Channel);
                Do($"getDomainHandle({H(d)}, {c})", () =>
                {
                    CapabilityError e = Engine.TryGetDomainHandle(d, c, out DomainHandle target);
                    return (e, () =>
                    {
                        DomainHandle want = Model.GetDomainHandle(d, c);
                        if (e == CapabilityError.Ok && want != target)
                        {
                            Fail($"TryGetDomainHandle returned {target}, model {want}");
                        }
                    });
                });
                break;
            }

            case 3:
                Do($"revokeDomain({H(d)})", () => (Engine.TryRevokeDomain(d), () => Model.RevokeDomain(d)));
                break;
            case 4:
            case 5:
            {
                int c = PickIndex(d, CapabilityKind.Management);
                ConfigurationBitmap bm = PickBitmap();
                ulong v = PickConfigValue(bm);
                Do($"setChildConfig({H(d)}, {c}, {bm}, 0x{v:x})", () =>
                    (Engine.TrySetChildConfiguration(d, c, bm, v), () => Model.SetChildConfiguration(d, c, bm, v)));
                break;
            }

            case 6:
            {
                ConfigurationBitmap bm = PickBitmap();
                ulong v = PickConfigValue(bm);
                if (_rng.Chance(50))
                {
                    Do($"setDomainConfig({H(d)}, {bm}, 0x{v:x})", () =>
                        (Engine.TrySetDomainConfiguration(d, bm, v), () => Model.SetDomainConfiguration(d, bm, v)));
                }
                else
                {
                    Do($"getDomainConfig({H(d)}, {bm})", () =>
                    {
                        CapabilityError e = Engine.TryGetDomainConfiguration(d, bm, out ulong value);
                        return (e, () =>
                        {
                            ulong want = Model.GetDomainConfiguration(d, bm);
                            if (e == CapabilityError.Ok && want != value)
                            {
                                Fail($"configuration {bm}: engine 0x{value:x}, model 0x{want:x}");
                            }
                        });
                    });
                }

                break;
            }

            case 7:
            {
                int c = PickIndex(d, CapabilityKind.Management);
                int core = PickCore();
                Do($"seal({H(d)}, core {core}, {c})", () =>
                {
                    CapabilityError e = Engine.TrySeal(d, core, c, out LocalCapability sw);
                    return (e, () => Model.Seal(d, core, c, sw.Index));
                });
                break;
            }

            case 8:
            {
                AccessRights access = PickRange(null, PickOps(null) & ~MemoryOperations.Vital);
                Do($"createRoot({H(d)}, {access})", () =>
                {
                    CapabilityError e = Engine.TryCreateRootRegion(d, access, out LocalCapability r);
                    return (e, () => Model.CreateRootRegion(d, access, r.Index));
                });
                break;
            }

            case 9:
            case 10:
            case 11:
            case 12:
            {
                bool carve = op >= 11;
                int c = PickIndex(d, CapabilityKind.Region);
                MRegion? parent = RegionAt(d, c);
                AccessRights access = PickRange(parent, PickOps(parent));
                bool withPolicy = _rng.Chance(30);
                CleanupPolicy policy = withPolicy ? PickPolicy() : CleanupPolicy.Zero;
                string name = carve ? "carve" : "alias";
                Do($"{name}({H(d)}, {c}, {access}{(withPolicy ? ", " + policy : string.Empty)})", () =>
                {
                    LocalCapability n;
                    CapabilityError e = (carve, withPolicy) switch
                    {
                        (true, true) => Engine.TryCarve(d, c, access, policy, out n),
                        (true, false) => Engine.TryCarve(d, c, access, out n),
                        (false, true) => Engine.TryAlias(d, c, access, policy, out n),
                        _ => Engine.TryAlias(d, c, access, out n),
                    };
                    return (e, carve ? () => Model.Carve(d, c, access, policy, n.Index) : () => Model.Alias(d, c, access, policy, n.Index));
                });
                break;
            }

            case 13:
            {
                int c = PickIndex(d, CapabilityKind.Region, CapabilityKind.Device);
                Do($"createRevoke({H(d)}, {c})", () =>
                {
                    CapabilityError e = Engine.TryCreateRevokeCapability(d, c, out LocalCapability r);
                    return (e, () => Model.CreateRevokeCapability(d, c, r.Index));
                });
                break;
            }

            case 14:
            {
                int c = PickIndex(d, CapabilityKind.RegionRevoke, CapabilityKind.Channel);
                Do($"duplicate({H(d)}, {c})", () =>
                {
                    CapabilityError e = Engine.TryDuplicate(d, c, out LocalCapability r);
                    return (e, () => Model.Duplicate(d, c, r.Index));
                });
                break;
            }

            case 15:
            case 16:
            case 17:
            {
                int c = PickIndex(d);
                int to = PickIndex(d, CapabilityKind.Management, CapabilityKind.Channel);
                bool withHash = op == 17;
                RegionHash hash = RegionHash.Filled((byte)_rng.Next(256));
                Do($"send{(withHash ? "WithHash" : string.Empty)}({H(d)}, {c}, to {to})", () =>
                {
                    LocalCapability r;
                    CapabilityError e = withHash ? Engine.TrySendWithHash(d, c, to, hash, out r) : Engine.TrySend(d, c, to, out r);
                    return (e, () => Model.Send(d, c, to, withHash ? hash : null, r.Index));
                });
                break;
            }

            case 18:
            case 19:
            {
                bool grant = op == 19;
                int c = PickIndex(d, CapabilityKind.Region);
                int to = PickIndex(d, CapabilityKind.Management, CapabilityKind.Channel);
                if (Of(d) is MDomain holder && to >= 0 && to < Capacities.CapabilitiesPerDomain
                    && (!holder.Table.TryGetValue(to, out MCap? toCap) || toCap.IsDead))
                {
                    // The engine derives the region and inserts the revoke capability before it resolves `to`, so a `to`
                    // naming a free (or dead, hence garbage-collectable) slot may name one of those (WrongCapabilityType)
                    // instead of CapabilityDoesNotExist.
                    // Which slot they take depends on the free-list order the model does not reproduce: use a bad index.
                    to = Capacities.CapabilitiesPerDomain + 1;
                }
                MRegion? parent = RegionAt(d, c);
                AccessRights access = PickRange(parent, PickOps(parent));
                Do($"{(grant ? "grant" : "share")}({H(d)}, {c}, {access}, to {to})", () =>
                {
                    LocalCapability revoke, received;
                    CapabilityError e = grant ? Engine.TryGrant(d, c, access, to, out revoke, out received)
                        : Engine.TryShare(d, c, access, to, out revoke, out received);
                    return (e, () => Model.Share(d, c, access, to, grant, revoke.Index, received.Index));
                });
                break;
            }

            case 20:
            case 21:
            {
                int c = PickIndex(d);
                Do($"revoke({H(d)}, {c})", () => (Engine.TryRevoke(d, c), () => Model.Revoke(d, c)));
                break;
            }

            case 22:
            {
                int core = PickCore();
                Do($"createSwitch({H(d)}, core {core})", () =>
                {
                    CapabilityError e = Engine.TryCreateSwitch(d, core, out LocalCapability s);
                    return (e, () => Model.CreateSwitch(d, core, s.Index));
                });
                break;
            }

            case 23:
            {
                int c = PickIndex(d, CapabilityKind.Switch);
                MDomain? md = Of(d);
                var toOthers = md?.Table.Where(kv => !kv.Value.IsDead && kv.Value.Kind == CapabilityKind.Switch && !ReferenceEquals(kv.Value.Target, md))
                    .Select(kv => kv.Key).ToList();
                if (toOthers is { Count: > 0 } && _rng.Chance(70))
                {
                    c = _rng.Pick(toOthers);
                }

                int core = md is not null && md.Running != 0 && _rng.Chance(80)
                    ? System.Numerics.BitOperations.TrailingZeroCount(md.Running) : PickCore();
                Do($"switch({H(d)}, core {core}, {c})", () => (Engine.TrySwitch(d, core, c), () => Model.Switch(d, core, c)));
                break;
            }

            case 24:
            {
                int core = PickCore();
                ulong trap = _rng.Chance(80) ? 1UL << _rng.Next(64) : _rng.NextULong();
                ulong info = _rng.NextULong();
                Do($"handleTrap({H(d)}, core {core}, 0x{trap:x})", () =>
                    (Engine.TryHandleTrap(d, core, trap, info), () => Model.HandleTrap(d, core, trap, info)));
                break;
            }

            case 25:
            {
                var runningChildren = Model.Live.Where(x => x.Running != 0 && x.Manager is not null).ToList();
                if (runningChildren.Count > 0 && _rng.Chance(75))
                {
                    d = _rng.Pick(runningChildren).Handle;
                }

                MDomain? md = Of(d);
                int core = md is not null && md.Running != 0 && _rng.Chance(80)
                    ? System.Numerics.BitOperations.TrailingZeroCount(md.Running) : PickCore();
                Do($"handleViolation({H(d)}, core {core})", () => (Engine.TryHandleViolation(d, core), () => Model.HandleViolation(d, core)));
                break;
            }

            case 26:
                Do($"conditionalPermissionUpdate({H(d)})", () =>
                    (Engine.TryConditionalPermissionUpdate(d), () => Model.ConditionalPermissionUpdate(d)));
                break;
            case 27:
                EnumerateAndCompare(d);
                break;
            case 28:
                PopSome();
                break;
            case 29:
            {
                DeviceId id = new((ushort)0, (byte)_rng.Next(2), (byte)_rng.Next(3), 0);
                Do($"createRootDevice({H(d)}, {id})", () =>
                {
                    CapabilityError e = Engine.TryCreateRootDevice(d, id, out LocalCapability c);
                    return (e, () => Model.CreateRootDevice(d, id, c.Index));
                });
                break;
            }

            default:
            {
                int c = PickIndex(d, CapabilityKind.Device);
                int to = PickIndex(d, CapabilityKind.Management, CapabilityKind.Channel);
                Do($"sendDevice({H(d)}, {c}, to {to})", () =>
                {
                    CapabilityError e = Engine.TrySend(d, c, to, out LocalCapability r);
                    return (e, () => Model.Send(d, c, to, null, r.Index));
                });
                break;
            }
        }
    }

    /// <summary>Sets all three bitmaps of a child (so that it can be sealed): permissions, a core map with every core, traps.</summary>
    private void ConfigureChild(DomainHandle d)
    {
        int c = PickIndex(d, CapabilityKind.Management);
        ulong permissions = _rng.Chance(70) ? (ulong)DomainPermissions.All : (ulong)_rng.Next(32);
        ulong cores = (1UL << Capacities.Cores) - 1;
        ulong traps = _rng.Chance(50) ? 0 : 1UL << _rng.Next(4);
        Do($"setChildConfig({H(d)}, {c}, Permission, 0x{permissions:x})", () =>
            (Engine.TrySetChildConfiguration(d, c, ConfigurationBitmap.Permission, permissions),
                () => Model.SetChildConfiguration(d, c, ConfigurationBitmap.Permission, permissions)));
        Do($"setChildConfig({H(d)}, {c}, Core, 0x{cores:x})", () =>
            (Engine.TrySetChildConfiguration(d, c, ConfigurationBitmap.Core, cores),
                () => Model.SetChildConfiguration(d, c, ConfigurationBitmap.Core, cores)));
        Do($"setChildConfig({H(d)}, {c}, Trap, 0x{traps:x})", () =>
            (Engine.TrySetChildConfiguration(d, c, ConfigurationBitmap.Trap, traps),
                () => Model.SetChildConfiguration(d, c, ConfigurationBitmap.Trap, traps)));
    }

    private void EnumerateAndCompare(DomainHandle d)
    {
        _step++;
        _log.Add($"{_step,3}: enumerate({H(d)})");
        var seen = new List<(int, CapabilityInfo)>();
        int token = 0;
        while (Engine.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            seen.Add((index.Index, info));
            if (seen.Count > Capacities.CapabilitiesPerDomain)
            {
                Fail("enumeration does not terminate");
            }
        }

        MDomain? md = Of(d);
        if (md is null)
        {
            if (seen.Count != 0)
            {
                Fail($"enumerating a stale handle yielded {seen.Count} capabilities");
            }

            Compare();
            return;
        }

        // Enumeration reclaims every dead slot.
        foreach (int i in md.Table.Where(kv => kv.Value.IsDead).Select(kv => kv.Key).ToList())
        {
            md.Table.Remove(i);
        }

        var want = md.Table.Select(kv => (kv.Key, Model.Info(kv.Value))).ToList();
        if (!seen.SequenceEqual(want))
        {
            Fail($"enumerate d{md.Id}: engine [{string.Join(", ", seen)}], model [{string.Join(", ", want)}]");
        }

        Compare();
    }

    private void PopSome()
    {
        int n = _rng.Chance(30) ? int.MaxValue : _rng.Next(1, 6);
        _step++;
        _log.Add($"{_step,3}: pop {(n == int.MaxValue ? "all" : n.ToString(CultureInfo.InvariantCulture))}");
        if (n == int.MaxValue && _rng.Chance(50))
        {
            Span<Update> buffer = stackalloc Update[Capacities.PendingUpdates];
            int count = Engine.DrainUpdates(buffer);
            for (int i = 0; i < count; i++)
            {
                ComparePopped(buffer[i], Model.Pop());
            }
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                bool got = Engine.TryPopUpdate(out Update u);
                MUpdate? want = Model.Pop();
                if (!got)
                {
                    if (want is not null)
                    {
                        Fail($"engine queue empty, model expected {want.Kind}");
                    }

                    break;
                }

                ComparePopped(u, want);
            }
        }

        Compare();
    }
}
