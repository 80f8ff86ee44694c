// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>
/// The unjournaled fast paths (taken outside any explicit transaction) against the journaled path (taken inside one):
/// the same results, the same state (<c>DumpState</c>) and the same update streams, and failures change nothing.
/// </summary>
public sealed class FastPathTests
{
    private static readonly EngineCapacities Small = new() { Domains = 6, CapabilitiesPerDomain = 5, Regions = 32, TrackerNodes = 64, PendingUpdates = 6, Cores = 3 };

    private static LocalCapability FindSwitch(CapabilityEngine e, DomainHandle d)
    {
        int token = 0;
        while (e.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            if (info.Kind == CapabilityKind.Switch)
            {
                return index;
            }
        }

        return new LocalCapability(-1);
    }

    // Boot: d0 on core 0 with a root region (cap 0); child m1 (cap 1), core map {0}, sealed with a Switch cap on core 0 (cap 2).
    private static void Setup(CapabilityEngine e)
    {
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        e.StartDomainOnCore(d0, 0);
        e.CreateRootRegion(d0, A(0, 0x100));
        LocalCapability m1 = e.CreateDomain(d0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, 0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Trap, 0);
        e.Seal(d0, 0, m1);
        e.DrainUpdates(new Update[64]);
    }

    private static (DomainHandle D0, DomainHandle D1, LocalCapability Switch) Handles(CapabilityEngine e)
    {
        Assert.Equal(CapabilityError.Ok, e.TryGetRunningDomain(0, out DomainHandle d0));
        Assert.Equal(CapabilityError.Ok, e.TryGetDomainHandle(d0, 1, out DomainHandle d1));
        return (d0, d1, 2);
    }

    [Fact]
    public void SwitchAndReturnMatchTheJournaledPath()
    {
        FastJournaledPair p = new(Small, Setup);
        var (d0, d1, sw) = Handles(p.Fast);
        for (int round = 0; round < 3; round++)
        {
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySwitch(d0, 0, FindSwitch(e, d0))));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryHandleViolation(d1, 0)));
            p.AssertSameUpdates();
        }

        Assert.Equal(sw, FindSwitch(p.Fast, d0));
    }

    [Fact]
    public void BenchmarkedSequencesSucceedAndMatch()
    {
        FastJournaledPair p = new(Small, Setup);
        var (d0, d1, sw) = Handles(p.Fast);
        Update[] sink = new Update[8];
        for (int round = 0; round < 3; round++)
        {
            // EngineBenchmarks "switch pair": switch, then switch back with the return capability of the Switch update.
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySwitch(d0, 0, sw)));
            Assert.Equal(1, p.Fast.DrainUpdates(sink));
            LocalCapability back = sink[0].ReturnCapability;
            Assert.Equal(1, p.Journaled.DrainUpdates(sink));
            Assert.Equal(back, sink[0].ReturnCapability);
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySwitch(d1, 0, back)));
            p.AssertSameUpdates();
            Assert.Equal(sw, FindSwitch(p.Fast, d0));

            // EngineBenchmarks "alias+send+child revoke".
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, A(0x10, 0x11, MemoryOperations.Read), out _)));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySend(d0, 3, 1, out _)));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d1, 0)));
            p.AssertSameUpdates();
        }
    }

    [Fact]
    public void EverySwitchErrorIsTheSameAndChangesNothing()
    {
        FastJournaledPair p = new(Small, Setup);
        var (d0, d1, sw) = Handles(p.Fast);
        Assert.Equal(CapabilityError.StaleDomain, p.Do(e => e.TrySwitch(DomainHandle.Invalid, 0, sw)));
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TrySwitch(d0, 3, sw)));
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TrySwitch(d0, -1, sw)));
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TrySwitch(d0, 1, sw))); // core 1 never started
        Assert.Equal(CapabilityError.CapabilityDoesNotExist, p.Do(e => e.TrySwitch(d0, 0, 99)));
        Assert.Equal(CapabilityError.CapabilityDoesNotExist, p.Do(e => e.TrySwitch(d0, 0, 4)));
        Assert.Equal(CapabilityError.WrongCapabilityType, p.Do(e => e.TrySwitch(d0, 0, 0)));
        Assert.Equal(CapabilityError.WrongCapabilityType, p.Do(e => e.TrySwitch(d0, 0, 1)));

        // The child is not running on core 0: its own Switch capability is refused.
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateSwitch(d1, 0, out _)));
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TrySwitch(d1, 0, 0)));
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TryHandleViolation(d1, 0)));
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TryHandleViolation(d1, 2)));
        Assert.Equal(CapabilityError.CouldNotHandleTrap, p.Do(e => e.TryHandleViolation(d0, 0)));
        Assert.Equal(CapabilityError.StaleDomain, p.Do(e => e.TryHandleViolation(DomainHandle.Invalid, 0)));

        // A Switch capability to a child whose core map lacks core 0.
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateDomain(d0, out _))); // cap 3
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySetChildConfiguration(d0, 3, ConfigurationBitmap.Core, 0b100)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySetChildConfiguration(d0, 3, ConfigurationBitmap.Permission, 0)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySetChildConfiguration(d0, 3, ConfigurationBitmap.Trap, 0)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySeal(d0, 0, 3, out _))); // cap 4
        Assert.Equal(CapabilityError.InvalidCore, p.Do(e => e.TrySwitch(d0, 0, 4)));

        // A Switch capability to a revoked child.
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, 3)));
        p.AssertSameUpdates();
        CapabilityError dead = p.Do(e => e.TrySwitch(d0, 0, 4));
        Assert.True(dead is CapabilityError.InvalidCapa or CapabilityError.CapabilityDoesNotExist, dead.ToString());
    }

    [Fact]
    public void FullTargetTableAndFullQueueFailTheSameWay()
    {
        FastJournaledPair p = new(Small, Setup);
        var (d0, d1, sw) = Handles(p.Fast);

        // Fill the queue with two switch+return pairs (4 updates) plus trap updates up to capacity.
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySwitch(d0, 0, FindSwitch(e, d0))));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryHandleViolation(d1, 0)));
        }

        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySwitch(d0, 0, FindSwitch(e, d0))));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryHandleViolation(d1, 0)));
        Assert.Equal(Small.PendingUpdates, p.Fast.PendingUpdateCount);
        Assert.Equal(CapabilityError.UpdateQueueFull, p.Do(e => e.TrySwitch(d0, 0, sw)));

        // The child's table full of valid capabilities: OutOfMemory takes precedence over the full queue.
        for (int i = 0; i < Small.CapabilitiesPerDomain; i++)
        {
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateSwitch(d1, 1, out _)));
        }

        Assert.Equal(CapabilityError.OutOfMemory, p.Do(e => e.TrySwitch(d0, 0, sw)));
        p.AssertSameUpdates();
        Assert.Equal(CapabilityError.OutOfMemory, p.Do(e => e.TrySwitch(d0, 0, sw)));
    }

    [Fact]
    public void GarbageCollectionInTheTargetTableMatches()
    {
        FastJournaledPair p = new(Small, Setup);
        var (d0, d1, sw) = Handles(p.Fast);

        // Give the child Management capabilities of grandchildren, kill those, fill the rest with valid capabilities.
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateDomain(d0, out _))); // cap 3
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySend(d0, 3, 1, out _)));
        while (p.Do(e => e.TryCreateSwitch(d1, 1, out _)) == CapabilityError.Ok)
        {
        }

        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryGetDomainHandle(d1, 0, out DomainHandle g) == CapabilityError.Ok ? e.TryRevokeDomain(g) : CapabilityError.StaleDomain));

        p.AssertSameUpdates();
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySwitch(d0, 0, sw)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryHandleViolation(d1, 0)));
        p.AssertSameUpdates();
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    public void RandomSwitchHeavySequencesMatchTheJournaledPath(int seed)
    {
        Random rng = new(seed);
        FastJournaledPair p = new(Small, e =>
        {
            DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
            e.StartDomainOnCore(d0, 0);
            e.StartDomainOnCore(d0, 1);
            e.CreateRootRegion(d0, A(0, 0x100));
        });
        List<DomainHandle> domains = [];
        Assert.Equal(CapabilityError.Ok, p.Fast.TryGetRunningDomain(0, out DomainHandle root));
        domains.Add(root);
        int switches = 0;
        for (int step = 0; step < 1500; step++)
        {
            int core = rng.Next(4) - (rng.Next(20) == 0 ? 1 : 0);
            DomainHandle d = rng.Next(3) > 0 && p.Fast.TryGetRunningDomain(Math.Max(core, 0), out DomainHandle running) == CapabilityError.Ok
                ? running
                : domains[rng.Next(domains.Count)];
            LocalCapability c = rng.Next(Small.CapabilitiesPerDomain + 1);
            ulong value = (ulong)rng.Next(8);
            ConfigurationBitmap bitmap = (ConfigurationBitmap)rng.Next(3);
            LocalCapability to = rng.Next(Small.CapabilitiesPerDomain);
            int op = rng.Next(12);
            CapabilityError r = p.Do(e => op switch
            {
                0 or 1 or 2 => e.TrySwitch(d, core, c),
                3 or 4 => e.TryHandleViolation(d, core),
                5 => e.TryCreateDomain(d, out _),
                6 => e.TrySetChildConfiguration(d, c, bitmap, value),
                7 => e.TrySeal(d, core, c, out _),
                8 => e.TryCreateSwitch(d, core, out _),
                9 => e.TryRevoke(d, c),
                10 => e.TrySend(d, c, to, out _),
                _ => CapabilityError.Ok,
            });

            if (op <= 4 && r == CapabilityError.Ok)
            {
                switches++;
            }

            if (op == 11 && p.Fast.TryGetDomainHandle(d, c, out DomainHandle found) == CapabilityError.Ok && p.Fast.IsLive(found) && !domains.Contains(found))
            {
                domains.Add(found);
            }

            if (rng.Next(8) == 0)
            {
                p.AssertSameUpdates();
            }
        }

        p.AssertSameUpdates();
        Assert.True(switches > 5, $"only {switches} switches succeeded");
    }
}
