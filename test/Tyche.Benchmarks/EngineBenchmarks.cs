// SPDX-License-Identifier: Apache-2.0
using BenchmarkDotNet.Attributes;
using Tyche.Capabilities;

namespace Tyche.Benchmarks;

/// <summary>
/// Capability-engine hot paths that do not depend on the number of regions. Each benchmark is an operation plus its
/// undo, so the engine state is the same before and after every invocation. Rust reference (ns/op):
/// create_domain+revoke 256; switch 24 (a switch pair is two switches); send 265 (the standalone send is
/// <see cref="EngineSendBenchmarks"/>; the alias+send rows here include an alias and a revoke).
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private const ulong Page = 0x1000;
    private readonly Update[] _sink = new Update[64];
    private CapabilityEngine _engine = null!;
    private DomainHandle _d0;
    private DomainHandle _d1;
    private LocalCapability _root;
    private LocalCapability _m1;
    private LocalCapability _switch;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new CapabilityEngine();
        _d0 = _engine.CreateManagerDomain(DomainPermissions.All);
        _engine.StartDomainOnCore(_d0, 0);
        _root = _engine.CreateRootRegion(_d0, new AccessRights(0, 0x100 * Page, MemoryOperations.All));
        _m1 = _engine.CreateDomain(_d0);
        _d1 = _engine.GetDomainHandle(_d0, _m1);
        _engine.SetChildConfiguration(_d0, _m1, ConfigurationBitmap.Core, 1);
        _engine.SetChildConfiguration(_d0, _m1, ConfigurationBitmap.Permission, 0);
        _engine.SetChildConfiguration(_d0, _m1, ConfigurationBitmap.Trap, 0);
        _switch = _engine.Seal(_d0, 0, _m1);
        _engine.DrainUpdates(_sink);
    }

    /// <summary>Create a child domain, revoke it through its Management capability.</summary>
    [Benchmark(Description = "create_domain+revoke")]
    public CapabilityError CreateDomainRevoke()
    {
        _engine.TryCreateDomain(_d0, out LocalCapability m);
        CapabilityError e = _engine.TryRevoke(_d0, m);
        _engine.DrainUpdates(_sink);
        return e;
    }

    /// <summary>Alias a page, send it to a child (trackers of both domains change), revoke it.</summary>
    [Benchmark(Description = "alias+send+revoke")]
    public CapabilityError AliasSendRevoke()
    {
        _engine.TryAlias(_d0, _root, new AccessRights(0x10 * Page, 0x11 * Page, MemoryOperations.Read), out LocalCapability a);
        _engine.TryCreateRevokeCapability(_d0, a, out LocalCapability rv);
        _engine.TrySend(_d0, a, _m1, out _);
        CapabilityError e = _engine.TryRevoke(_d0, rv);
        _engine.DrainUpdates(_sink);
        return e;
    }

    /// <summary>Alias a page in the manager, send it to the child, the child revokes it (no revoke capability).</summary>
    [Benchmark(Description = "alias+send+child revoke")]
    public CapabilityError AliasSendChildRevoke()
    {
        _engine.TryAlias(_d0, _root, new AccessRights(0x10 * Page, 0x11 * Page, MemoryOperations.Read), out LocalCapability a);
        _engine.TrySend(_d0, a, _m1, out LocalCapability received);
        CapabilityError e = _engine.TryRevoke(_d1, received);
        _engine.DrainUpdates(_sink);
        return e;
    }

    /// <summary>Two plain switches: core 0 to the sealed child, then back with the return capability from the Switch update.</summary>
    [Benchmark(Description = "switch pair (2 switches)")]
    public CapabilityError SwitchPair()
    {
        _engine.TrySwitch(_d0, 0, _switch);
        _engine.DrainUpdates(_sink);
        CapabilityError e = _engine.TrySwitch(_d1, 0, _sink[0].ReturnCapability);
        _engine.DrainUpdates(_sink);
        return e;
    }

    /// <summary>Switch core 0 to the sealed child and back (<c>handle_violation</c> uses the return capability).</summary>
    [Benchmark(Description = "switch+return")]
    public CapabilityError SwitchAndReturn()
    {
        _engine.TrySwitch(_d0, 0, _switch);
        CapabilityError e = _engine.TryHandleViolation(_d1, 0);
        _engine.DrainUpdates(_sink);
        return e;
    }
}

/// <summary>
/// Alias/carve + revoke with K regions already present, the new region in the middle of them. Rust reference (ns/op):
/// alias+revoke K=1 164, K=10 431, K=100 3,359; K=1000 spread over child domains 15,999; carve+revoke K=100 3,282.
/// </summary>
[MemoryDiagnoser]
public class EngineScalingBenchmarks
{
    private const ulong Page = 0x1000;
    private readonly Update[] _sink = new Update[64];
    private CapabilityEngine _engine = null!;
    private DomainHandle _d0;
    private LocalCapability _root;
    private ulong _middle;

    /// <summary>Regions already present.</summary>
    [Params(1, 10, 100, 1000)]
    public int K { get; set; }

    /// <summary>Whether the K regions are sent to 20 child domains (else they stay in the domain).</summary>
    [Params(false, true)]
    public bool Spread { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engine = new CapabilityEngine(new EngineCapacities { Regions = 4096, TrackerNodes = 8192, CapabilitiesPerDomain = 1200 });
        _d0 = _engine.CreateManagerDomain(DomainPermissions.All);
        _engine.StartDomainOnCore(_d0, 0);
        ulong size = (ulong)(4 * (K + 2)) * Page;
        _root = _engine.CreateRootRegion(_d0, new AccessRights(0, size, MemoryOperations.All));
        LocalCapability[] children = new LocalCapability[20];
        for (int c = 0; Spread && c < children.Length; c++)
        {
            children[c] = _engine.CreateDomain(_d0);
        }

        // K aliases with gaps, so neither the tracker nor the child list coalesces: pages [4i+1, 4i+2).
        for (int i = 0; i < K; i++)
        {
            ulong s = (ulong)((4 * i) + 1) * Page;
            LocalCapability a = _engine.Alias(_d0, _root, new AccessRights(s, s + Page, MemoryOperations.Read));
            if (Spread)
            {
                _engine.Send(_d0, a, children[i % children.Length]);
            }

            _engine.DrainUpdates(_sink);
        }

        _middle = (ulong)((4 * (K / 2)) + 3) * Page;
        _engine.DrainUpdates(_sink);
    }

    [Benchmark(Description = "alias+revoke")]
    public CapabilityError AliasRevoke()
    {
        _engine.TryAlias(_d0, _root, new AccessRights(_middle, _middle + Page, MemoryOperations.Read | MemoryOperations.Write), out LocalCapability a);
        CapabilityError e = _engine.TryRevoke(_d0, a);
        _engine.DrainUpdates(_sink);
        return e;
    }

    [Benchmark(Description = "carve+revoke")]
    public CapabilityError CarveRevoke()
    {
        _engine.TryCarve(_d0, _root, new AccessRights(_middle, _middle + Page, MemoryOperations.Read), out LocalCapability c);
        CapabilityError e = _engine.TryRevoke(_d0, c);
        _engine.DrainUpdates(_sink);
        return e;
    }
}

/// <summary>
/// A standalone send. An aliased page is sent down a chain of 16 domains (d0 → d1 → … → d16, each managing the next): 16
/// sends per invocation, each a real region move (the sender's tracker loses the page, the receiver's gains it, with their
/// PermissionUpdates). A capability only moves from a manager to a domain it manages and the engine has no channels, so no
/// sequence of sends alone can bring the page back (no "send + send back"); each invocation therefore also creates the
/// alias and a revoke capability in d0, revokes it after the 16th send and drains the queue. That fixed overhead (about one
/// alias + revoke) is spread over the 16 sends, so the figure slightly overstates one send. Rust reference: send 265 ns.
/// </summary>
[MemoryDiagnoser]
public class EngineSendBenchmarks
{
    private const ulong Page = 0x1000;
    private const int Chain = 16;
    private readonly Update[] _sink = new Update[128];
    private readonly DomainHandle[] _domains = new DomainHandle[Chain + 1];
    private readonly LocalCapability[] _next = new LocalCapability[Chain];
    private CapabilityEngine _engine = null!;
    private LocalCapability _root;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new CapabilityEngine();
        _domains[0] = _engine.CreateManagerDomain(DomainPermissions.All);
        _engine.StartDomainOnCore(_domains[0], 0);
        _root = _engine.CreateRootRegion(_domains[0], new AccessRights(0, 0x100 * Page, MemoryOperations.All));
        for (int i = 0; i < Chain; i++)
        {
            _next[i] = _engine.CreateDomain(_domains[i]);
            _engine.SetChildConfiguration(_domains[i], _next[i], ConfigurationBitmap.Permission, (ulong)DomainPermissions.All);
            _domains[i + 1] = _engine.GetDomainHandle(_domains[i], _next[i]);
        }

        _engine.DrainUpdates(_sink);
    }

    /// <summary>16 sends of one page down the chain (plus the alias, revoke capability, revoke and drain that restore the state).</summary>
    [Benchmark(Description = "send (16-domain chain, per send)", OperationsPerInvoke = Chain)]
    public CapabilityError SendDownChain()
    {
        _engine.TryAlias(_domains[0], _root, new AccessRights(0x10 * Page, 0x11 * Page, MemoryOperations.Read), out LocalCapability c);
        _engine.TryCreateRevokeCapability(_domains[0], c, out LocalCapability revoke);
        for (int i = 0; i < Chain; i++)
        {
            _engine.TrySend(_domains[i], c, _next[i], out c);
        }

        CapabilityError e = _engine.TryRevoke(_domains[0], revoke);
        _engine.DrainUpdates(_sink);
        return e;
    }
}
