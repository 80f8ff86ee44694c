// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Tyche.Capabilities.Tests.Model;
using Xunit.Sdk;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// Random operations (arguments drawn from what the engine itself reports, plus garbage) on an engine with tiny pools.
/// Every operation that fails must leave <c>DumpState()</c>, the free capacities and the invariants unchanged. It needs no
/// model, so it also covers paths the model does not know (tracker-node exhaustion in the middle of a cascade).
/// </summary>
internal sealed class AtomicityFuzzer
{
    private static readonly ulong[] Grid = [0x0, 0x10, 0x20, 0x40, 0x60, 0x80, 0xc0, 0x100];

    private readonly CapabilityEngine _engine;
    private readonly SeededRandom _rng;
    private readonly ulong _seed;
    private readonly List<string> _log = new();

    public AtomicityFuzzer(EngineCapacities capacities, ulong seed)
    {
        _engine = new CapabilityEngine(capacities);
        _rng = new SeededRandom(seed);
        _seed = seed;
    }

    /// <summary>Runs the sequence; returns how many operations failed (each checked).</summary>
    public int Run(int steps)
    {
        Check.Ok(_engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        Check.Ok(_engine.TryStartDomainOnCore(d0, 0));
        Check.Ok(_engine.TryCreateRootRegion(d0, new AccessRights(0, 0x100, MemoryOperations.All), out _));
        int failures = 0;
        for (int i = 0; i < steps; i++)
        {
            failures += Step(i);
        }

        return failures;
    }

    private DomainHandle PickDomain()
    {
        Span<DomainHandle> handles = stackalloc DomainHandle[_engine.Capacities.Domains];
        int n = _engine.GetDomains(handles);
        if (n == 0 || _rng.Chance(5))
        {
            return new DomainHandle(_rng.Next(_engine.Capacities.Domains + 1), (uint)_rng.Next(3));
        }

        return handles[_rng.Next(n)];
    }

    private int PickIndex(DomainHandle d, CapabilityKind prefer)
    {
        var any = new List<int>();
        var preferred = new List<int>();
        for (int i = 0; i < _engine.Capacities.CapabilitiesPerDomain; i++)
        {
            if (_engine.TryGetCapabilityInfo(d, i, out CapabilityInfo info) == CapabilityError.Ok)
            {
                any.Add(i);
                if (info.Kind == prefer)
                {
                    preferred.Add(i);
                }
            }
        }

        if (preferred.Count > 0 && _rng.Chance(75))
        {
            return _rng.Pick(preferred);
        }

        if (any.Count > 0 && _rng.Chance(85))
        {
            return _rng.Pick(any);
        }

        return _rng.Next(-2, _engine.Capacities.CapabilitiesPerDomain + 2);
    }

    private AccessRights PickRange()
    {
        ulong a = _rng.Pick(Grid), b = _rng.Pick(Grid);
        var ops = (MemoryOperations)(_rng.Chance(50) ? (int)MemoryOperations.All : _rng.Next(128));
        return _rng.Chance(90) ? new AccessRights(Math.Min(a, b), Math.Max(a, b), ops) : new AccessRights(Math.Max(a, b) + 1, Math.Min(a, b), ops);
    }

    private int Step(int step)
    {
        DomainHandle d = PickDomain();
        int op = _rng.Next(22);
        if (op == 20 && Environment.GetEnvironmentVariable("TYCHE_MODEL_SKIP_KNOWN") == "1")
        {
            op = 21; // local bug hunting past DeviceTests.Revoking_ones_own_device_capability_…; never set in CI
        }

        int core = _rng.Next(-1, _engine.Capacities.Cores + 1);
        string before = EngineState.DumpOf(_engine);
        FreeCapacity freeBefore = _engine.GetFreeCapacity();
        CapabilityError e;
        string text;
        switch (op)
        {
            case 0: e = _engine.TryCreateDomain(d, out _); text = $"createDomain({d})"; break;
            case 1:
            {
                int m = PickIndex(d, CapabilityKind.Management);
                var bm = (ConfigurationBitmap)_rng.Next(3);
                ulong v = _rng.Chance(50) ? (bm == ConfigurationBitmap.Permission ? (ulong)DomainPermissions.All : 1) : (ulong)_rng.Next(64);
                e = _engine.TrySetChildConfiguration(d, m, bm, v);
                text = $"setChildConfig({d}, {m}, {bm}, {v})";
                break;
            }

            case 2: { int m = PickIndex(d, CapabilityKind.Management); e = _engine.TrySeal(d, 0, m, out _); text = $"seal({d}, {m})"; break; }
            case 3: { AccessRights a = PickRange(); e = _engine.TryCreateRootRegion(d, a, out _); text = $"root({d}, {a})"; break; }
            case 4:
            case 5:
            {
                int r = PickIndex(d, CapabilityKind.Region);
                AccessRights a = PickRange();
                e = _engine.TryAlias(d, r, a, out _);
                text = $"alias({d}, {r}, {a})";
                break;
            }

            case 6:
            case 7:
            {
                int r = PickIndex(d, CapabilityKind.Region);
                AccessRights a = PickRange();
                e = _engine.TryCarve(d, r, a, CleanupPolicy.ZeroAndFlush, out _);
                text = $"carve({d}, {r}, {a})";
                break;
            }

            case 8:
            case 9:
            {
                int c = PickIndex(d, CapabilityKind.Region);
                int to = PickIndex(d, CapabilityKind.Management);
                e = _engine.TrySend(d, c, to, out _);
                text = $"send({d}, {c}, {to})";
                break;
            }

            case 10:
            {
                int c = PickIndex(d, CapabilityKind.Region);
                int to = PickIndex(d, CapabilityKind.Management);
                AccessRights a = PickRange();
                e = _rng.Chance(50) ? _engine.TryShare(d, c, a, to, out _, out _) : _engine.TryGrant(d, c, a, to, out _, out _);
                text = $"share/grant({d}, {c}, {a}, {to})";
                break;
            }

            case 11:
            case 12:
            {
                int c = PickIndex(d, _rng.Chance(50) ? CapabilityKind.RegionRevoke : CapabilityKind.Region);
                e = _engine.TryRevoke(d, c);
                text = $"revoke({d}, {c})";
                break;
            }

            case 13: { int c = PickIndex(d, CapabilityKind.Region); e = _engine.TryCreateRevokeCapability(d, c, out _); text = $"createRevoke({d}, {c})"; break; }
            case 14: e = _engine.TryRevokeDomain(d); text = $"revokeDomain({d})"; break;
            case 15: { int c = PickIndex(d, CapabilityKind.Switch); e = _engine.TrySwitch(d, core, c); text = $"switch({d}, {core}, {c})"; break; }
            case 16: e = _engine.TryCreateSwitch(d, core, out _); text = $"createSwitch({d}, {core})"; break;
            case 17: e = _engine.TryHandleViolation(d, core); text = $"handleViolation({d}, {core})"; break;
            case 18: e = _engine.TryHandleTrap(d, core, 1UL << _rng.Next(4), 0); text = $"handleTrap({d}, {core})"; break;
            case 19:
            {
                int c = PickIndex(d, CapabilityKind.RegionRevoke);
                e = _engine.TryDuplicate(d, c, out _);
                text = $"duplicate({d}, {c})";
                break;
            }

            case 20:
            {
                var dev = new DeviceId(0, 0, (byte)_rng.Next(3), 0);
                e = _engine.TryCreateRootDevice(d, dev, out _);
                text = $"rootDevice({d}, {dev})";
                break;
            }

            default:
            {
                int n = _rng.Next(1, 4);
                for (int i = 0; i < n && _engine.TryPopUpdate(out _); i++)
                {
                }

                e = CapabilityError.Ok;
                text = $"pop {n}";
                break;
            }
        }

        _log.Add(string.Create(CultureInfo.InvariantCulture, $"{step,3}: {text} -> {e}"));
        Span<InvariantViolation> violations = stackalloc InvariantViolation[4];
        int violationCount = _engine.CheckInvariants(violations);
        if (violationCount != 0)
        {
            Fail($"{violationCount} invariant violation(s) after {text}: {violations[0]}");
        }

        if (e == CapabilityError.Ok)
        {
            return 0;
        }

        if (_engine.GetFreeCapacity() != freeBefore || EngineState.DumpOf(_engine) != before)
        {
            Fail($"{text} failed with {e} but changed the engine");
        }

        return 1;
    }

    private void Fail(string message) =>
        throw new XunitException(string.Create(CultureInfo.InvariantCulture,
            $"{message}\nReplay with TYCHE_SEED={_seed}\n{string.Join('\n', _log.GetRange(Math.Max(0, _log.Count - 25), Math.Min(25, _log.Count)))}"));
}
