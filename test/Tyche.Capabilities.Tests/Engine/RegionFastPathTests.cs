// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>
/// The unjournaled alias, carve, send and leaf-revoke fast paths (taken outside any explicit transaction) against the
/// journaled path (the same calls inside Begin/Commit): the same results, the same state (<c>DumpState</c>), the same
/// update streams, the invariant checker clean on both, and every failure changes nothing. Tight capacities make the
/// fast paths' capacity checks refuse (full queue, tracker pool, region pool, capability tables) as well as pass.
/// </summary>
public sealed class RegionFastPathTests
{
    private const ulong Page = 0x1000;

    private static AccessRights P(ulong first, ulong pages, MemoryOperations ops) => new(first * Page, (first + pages) * Page, ops);

    /// <summary>Boot: d0 on core 0 with a root region of 128 pages (cap 0) and two children (caps 1, 2).</summary>
    private static void Setup(CapabilityEngine e)
    {
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        e.StartDomainOnCore(d0, 0);
        e.CreateRootRegion(d0, P(0, 128, MemoryOperations.All | MemoryOperations.Cleanup));
        for (int i = 0; i < 2; i++)
        {
            LocalCapability m = e.CreateDomain(d0);
            e.SetChildConfiguration(d0, m, ConfigurationBitmap.Permission, (ulong)DomainPermissions.All);
        }

        e.DrainUpdates(new Update[64]);
    }

    private static List<DomainHandle> Domains(CapabilityEngine e)
    {
        DomainHandle[] all = new DomainHandle[16];
        return [.. all.AsSpan(0, e.GetDomains(all)).ToArray()];
    }

    [Fact]
    public void BenchmarkedSequencesTakeTheFastPathAndMatch()
    {
        FastJournaledPair p = new(new EngineCapacities(), Setup);
        Assert.Equal(CapabilityError.Ok, p.Fast.TryGetRunningDomain(0, out DomainHandle d0));
        Assert.Equal(CapabilityError.Ok, p.Fast.TryGetDomainHandle(d0, 1, out DomainHandle d1));
        int before = p.Fast.FastPathRuns;
        for (int round = 0; round < 4; round++)
        {
            // EngineScalingBenchmarks alias+revoke and carve+revoke; EngineBenchmarks alias+send+child revoke.
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P(3, 1, MemoryOperations.Read | MemoryOperations.Write), out _)));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, 3 + (2 * round))));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCarve(d0, 0, P(3, 1, MemoryOperations.Read), out _)));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, 4 + (2 * round))));
            p.AssertSameUpdatesAndInvariants();
        }

        Assert.Equal(16, p.Fast.FastPathRuns - before);
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P(16, 1, MemoryOperations.Read), out _)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySend(d0, 11, 1, out _)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d1, 0)));
        Assert.Equal(19, p.Fast.FastPathRuns - before);
        p.AssertSameUpdatesAndInvariants();
    }

    [Fact]
    public void BenchmarkedSendChainTakesTheFastPathAndMatches()
    {
        // EngineSendBenchmarks: a page sent down a chain of domains, each managing the next, then revoked by d0.
        const int Chain = 6;
        DomainHandle[] domains = new DomainHandle[Chain + 1];
        LocalCapability[] next = new LocalCapability[Chain];
        FastJournaledPair p = new(new EngineCapacities(), e =>
        {
            DomainHandle d = e.CreateManagerDomain(DomainPermissions.All);
            e.StartDomainOnCore(d, 0);
            e.CreateRootRegion(d, P(0, 0x100, MemoryOperations.All));
            for (int i = 0; i < Chain; i++)
            {
                LocalCapability m = e.CreateDomain(d);
                e.SetChildConfiguration(d, m, ConfigurationBitmap.Permission, (ulong)DomainPermissions.All);
                next[i] = m;
                domains[i] = d;
                d = e.GetDomainHandle(d, m);
            }

            domains[Chain] = d;
            e.DrainUpdates(new Update[64]);
        });

        for (int round = 0; round < 3; round++)
        {
            int before = p.Fast.FastPathRuns;
            LocalCapability c = default;
            LocalCapability revoke = default;
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(domains[0], 0, P(0x10, 1, MemoryOperations.Read), out c)));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateRevokeCapability(domains[0], c, out revoke)));
            for (int i = 0; i < Chain; i++)
            {
                LocalCapability sent = c;
                Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySend(domains[i], sent, next[i], out c)));
                Assert.Equal("{[0x10000, 0x11000 | R___]}", p.Fast.Permissions(domains[i + 1]));
            }

            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(domains[0], revoke)));
            Assert.Equal(Chain + 2, p.Fast.FastPathRuns - before);
            Assert.Equal("{}", p.Fast.Permissions(domains[Chain]));
            p.AssertSameUpdatesAndInvariants();
        }
    }

    [Fact]
    public void AFullTableIsCollectedByTheFastPathAsByTheJournaledPath()
    {
        FastJournaledPair p = new(new EngineCapacities { CapabilitiesPerDomain = 8 }, Setup);
        Assert.Equal(CapabilityError.Ok, p.Fast.TryGetRunningDomain(0, out DomainHandle d0));

        // Caps 0..2 exist; alias + revoke leaves tombstones in 3..7, so the table is full of garbage.
        for (int i = 0; i < 5; i++)
        {
            LocalCapability a = default;
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P((ulong)i, 1, MemoryOperations.Read), out a)));
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, a)));
        }

        int before = p.Fast.FastPathRuns;
        List<LocalCapability> kept = [];
        for (int i = 0; i < 5; i++)
        {
            LocalCapability a = default;
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P((ulong)(2 * i) + 10, 1, MemoryOperations.Read), out a)));
            kept.Add(a);
        }

        Assert.Equal(5, p.Fast.FastPathRuns - before);
        p.AssertSameUpdatesAndInvariants();

        // Full of valid capabilities: nothing to collect, the journaled path reports OutOfMemory and nothing changes.
        Assert.Equal(CapabilityError.OutOfMemory, p.Do(e => e.TryAlias(d0, 0, P(40, 1, MemoryOperations.Read), out _)));
        Assert.Equal(CapabilityError.OutOfMemory, p.Do(e => e.TryCarve(d0, 0, P(40, 1, MemoryOperations.Read), out _)));
        Assert.Equal(5, p.Fast.FastPathRuns - before);
        p.AssertSameUpdatesAndInvariants();
    }

    [Fact]
    public void RevokeCapabilitiesCarvesToChildrenCleanupAndVitalMatch()
    {
        FastJournaledPair p = new(new EngineCapacities(), Setup);
        Assert.Equal(CapabilityError.Ok, p.Fast.TryGetRunningDomain(0, out DomainHandle d0));

        // A carve sent to a child and revoked through a RegionRevoke: the memory flows back to d0 (another owner).
        LocalCapability a = default;
        LocalCapability rv = default;
        LocalCapability b = default;
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCarve(d0, 0, P(8, 2, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup), out a)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateRevokeCapability(d0, a, out rv)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySend(d0, a, 1, out _)));
        p.AssertSameUpdatesAndInvariants();
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, rv)));
        p.AssertSameUpdatesAndInvariants();

        // A VITAL alias sent to a child: revoking it kills the child (journaled cascade) — same result either way.
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P(20, 1, MemoryOperations.Read | MemoryOperations.Vital), out a)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCreateRevokeCapability(d0, a, out rv)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TrySend(d0, a, 2, out _)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, rv)));
        p.AssertSameUpdatesAndInvariants();
        Assert.Single(Domains(p.Fast), d => d != d0);

        // A region with a child is not a leaf; a root region cannot be revoked; errors change nothing.
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P(30, 4, MemoryOperations.Read), out a)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, a, P(31, 1, MemoryOperations.Read), out b)));
        Assert.Equal(CapabilityError.InvalidOperation, p.Do(e => e.TryRevoke(d0, 0)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, a)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, b))); // a tombstone now: revoking it is a no-op, as upstream
        Assert.Equal(CapabilityError.CapabilityDoesNotExist, p.Do(e => e.TryRevoke(d0, 99)));
        Assert.Equal(CapabilityError.StaleDomain, p.Do(e => e.TryRevoke(DomainHandle.Invalid, 0)));
        Assert.Equal(CapabilityError.InvalidOperation, p.Do(e => e.TryAlias(d0, 0, P(124, 8, MemoryOperations.Read), out _)));
        Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryCarve(d0, 0, P(40, 2, MemoryOperations.Read), out _)));
        Assert.Equal(CapabilityError.InvalidOperation, p.Do(e => e.TryCarve(d0, 0, P(41, 2, MemoryOperations.Read), out _)));
        Assert.Equal(CapabilityError.InvalidOperation, p.Do(e => e.TryAlias(d0, 0, P(41, 1, MemoryOperations.Read), out _)));
        p.AssertSameUpdatesAndInvariants();
    }

    [Fact]
    public void ListsCrossingTheTreapThresholdsKeepMatching()
    {
        FastJournaledPair p = new(new EngineCapacities { Regions = 128, TrackerNodes = 256 }, Setup);
        Assert.Equal(CapabilityError.Ok, p.Fast.TryGetRunningDomain(0, out DomainHandle d0));
        List<LocalCapability> aliases = [];

        // 40 separated aliases: the root's children list and d0's tracker grow past 32 nodes (treaps built) ...
        for (int i = 0; i < 40; i++)
        {
            LocalCapability a = default;
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryAlias(d0, 0, P((ulong)(2 * i) + 1, 1, MemoryOperations.Read), out a)));
            aliases.Add(a);
            p.AssertSameUpdatesAndInvariants();
        }

        Assert.True(p.Fast.GetTrackerSegmentCount(d0) > 32);

        // ... and shrink below 16 (treaps dropped), in an order that is neither FIFO nor LIFO.
        for (int k = 0; k < aliases.Count; k++)
        {
            LocalCapability a = aliases[(k * 7) % aliases.Count];
            Assert.Equal(CapabilityError.Ok, p.Do(e => e.TryRevoke(d0, a)));
            p.AssertSameUpdatesAndInvariants();
        }

        Assert.Equal(1, p.Fast.GetTrackerSegmentCount(d0));
    }

    [Fact]
    public void UpdatesAreEightWordsAndTheWordWiseWritesAreExact()
    {
        Assert.Equal(64, Unsafe.SizeOf<Update>());
        Update built = new(UpdateKind.Trap, new DomainHandle(9, 9), coreMap: ulong.MaxValue, trap: 1, info: 2, start: 3, end: 4, device: new DeviceId(7, 1, 2, 3));
        Update.WriteSwitch(ref built, new DomainHandle(5, 0xFFFF_FFFE), 63, 0x7FFF_FFFF);
        Assert.Equal(new Update(UpdateKind.Switch, new DomainHandle(5, 0xFFFF_FFFE), core: 63, returnCapability: 0x7FFF_FFFF), built);

        Update full = new(UpdateKind.Cleanup, new DomainHandle(-1, uint.MaxValue), coreMap: 3, core: -4, returnCapability: 5, trap: 6, info: 7,
            start: 8, end: ulong.MaxValue, policy: CleanupPolicy.ZeroAndFlush, device: new DeviceId(0xABCD, 0xEF, 31, 7));
        Update.CopyWords(ref full, out Update copy);
        Assert.Equal(full, copy);
        Assert.Equal(full.ToString(), copy.ToString());
        Assert.Equal(full.Device, copy.Device);
        Assert.Equal(full.Policy, copy.Policy);
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    [InlineData(24)]
    [InlineData(25)]
    [InlineData(26)]
    public void RandomRegionHeavySequencesMatchTheJournaledPath(int seed)
    {
        // Tight pools so every capacity check of the fast paths both passes and refuses.
        EngineCapacities tight = new() { Domains = 6, CapabilitiesPerDomain = 24, Regions = 40, TrackerNodes = 64, PendingUpdates = 8, Cores = 2 };
        Random rng = new(seed);
        FastJournaledPair p = new(tight, Setup);
        MemoryOperations[] rights =
        [
            MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.All,
            MemoryOperations.Read | MemoryOperations.Cleanup, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup,
            MemoryOperations.Read | MemoryOperations.Vital, MemoryOperations.Execute,
        ];
        int ok = 0;
        int[] okByOp = new int[16];
        int fastBefore = p.Fast.FastPathRuns;
        for (int step = 0; step < 1200; step++)
        {
            List<DomainHandle> domains = Domains(p.Fast);
            // Mostly the root manager (which holds the root region, cap 0) and small capability indices.
            DomainHandle d = rng.Next(30) == 0 ? DomainHandle.Invalid : domains[rng.Next(2) == 0 ? 0 : rng.Next(domains.Count)];
            LocalCapability c = rng.Next(4) == 0 ? rng.Next(tight.CapabilitiesPerDomain + 1) : rng.Next(3) == 0 ? 0 : rng.Next(8);
            LocalCapability to = rng.Next(4);
            ulong first = (ulong)rng.Next(64);
            ulong pages = (ulong)rng.Next(1, 4);
            AccessRights access = P(first, pages, rights[rng.Next(rights.Length)]);
            CleanupPolicy policy = (CleanupPolicy)rng.Next(4);
            int drain = rng.Next(1, 9);
            int op = rng.Next(16);
            CapabilityError r = p.Do(e => op switch
            {
                0 or 1 or 2 => e.TryAlias(d, c, access, policy, out _),
                3 or 4 => e.TryCarve(d, c, access, policy, out _),
                5 or 6 or 7 or 8 => e.TryRevoke(d, c),
                9 or 10 => e.TrySend(d, c, to, out _),
                11 => e.TryCreateRevokeCapability(d, c, out _),
                12 => e.TryCreateDomain(d, out _),
                _ => e.DrainUpdates(new Update[drain]) >= 0 ? CapabilityError.Ok : CapabilityError.InvalidValue,
            });

            if (r == CapabilityError.Ok)
            {
                ok++;
                okByOp[op]++;
            }

            if (rng.Next(10) == 0)
            {
                p.AssertSameUpdatesAndInvariants();
            }
        }

        p.AssertSameUpdatesAndInvariants();
        Assert.True(ok > 100, $"only {ok} operations succeeded");
        Assert.True(p.Fast.FastPathRuns - fastBefore > 15, $"only {p.Fast.FastPathRuns - fastBefore} fast paths taken; successes by operation: {string.Join(' ', okByOp)}");
    }
}
