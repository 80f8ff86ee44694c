// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>Seeded random operation sequences: invariants after every step, failures change nothing (DumpState).</summary>
public sealed class RandomOperationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomSequencesKeepInvariantsAndFailAtomically(int seed)
    {
        Random rng = new(seed);
        var (e, d0, _) = Boot(0x100, new EngineCapacities { Domains = 6, CapabilitiesPerDomain = 32, Regions = 96, TrackerNodes = 96, PendingUpdates = 24 });
        List<DomainHandle> domains = [d0];
        InvariantViolation[] violations = new InvariantViolation[8];
        int successes = 0;
        int[] errors = new int[64];
        for (int step = 0; step < 1500; step++)
        {
            DomainHandle d = rng.Next(2) == 0 ? d0 : domains[rng.Next(domains.Count)];
            LocalCapability c = Pick(e, d, rng, CapabilityKind.Region);
            LocalCapability to = Pick(e, d, rng, CapabilityKind.Management);
            ulong s = (ulong)rng.Next(0x100);
            ulong len = (ulong)rng.Next(1, 0x40);
            if (rng.Next(3) > 0 && e.TryGetRegionInfo(d, c, out AccessRights parent, out _, out _, out _) == CapabilityError.Ok && parent.End > parent.Start)
            {
                s = parent.Start + (ulong)rng.Next((int)(parent.End - parent.Start));
                len = 1 + (ulong)rng.Next((int)(parent.End - s));
            }

            MemoryOperations ops = (MemoryOperations)rng.Next(0x80) & (rng.Next(2) == 0 ? MemoryOperations.Read | MemoryOperations.Attributes : (MemoryOperations)0x7F);
            AccessRights access = new(s, s + len, ops);
            string before = e.DumpState();
            int op = rng.Next(12);
            CapabilityError result = op switch
            {
                0 or 1 => e.TryAlias(d, c, access, out _),
                2 or 3 => e.TryCarve(d, c, access, (CleanupPolicy)rng.Next(4), out _),
                4 => e.TrySend(d, c, to, out _),
                5 => e.TryRevoke(d, c),
                6 => e.TryCreateDomain(d, out _),
                7 => e.TrySetChildConfiguration(d, c, (ConfigurationBitmap)rng.Next(3), (ulong)rng.Next(0x20)),
                8 => e.TryShare(d, c, access, to, out _, out _),
                9 => e.TryGrant(d, c, access, to, out _, out _),
                10 => e.TryCreateRevokeCapability(d, c, out _),
                _ => e.TryGetDomainHandle(d, c, out DomainHandle found) == CapabilityError.Ok && e.IsLive(found) && !domains.Contains(found)
                    ? Add(domains, found) : CapabilityError.Ok,
            };
            if (result == CapabilityError.Ok && op < 6)
            {
                successes++;
            }

            if (result != CapabilityError.Ok)
            {
                Assert.Equal(before, e.DumpState());
            }

            int n = e.CheckInvariants(violations);
            Assert.True(n == 0, $"seed {seed} step {step} op {op}: " + string.Join("; ", violations[..Math.Min(n, violations.Length)]));
            domains.RemoveAll(x => !e.IsLive(x));
            if (rng.Next(4) > 0)
            {
                e.DrainUpdates(new Update[32]);
            }

            errors[(int)result]++;
        }

        Assert.True(successes > 30, $"only {successes} mutating operations succeeded: " + string.Join(", ", Array.ConvertAll(errors, x => x.ToString(System.Globalization.CultureInfo.InvariantCulture))));
    }

    private static LocalCapability Pick(CapabilityEngine e, DomainHandle d, Random rng, CapabilityKind preferred)
    {
        if (rng.Next(10) == 0)
        {
            return rng.Next(24);
        }

        List<int> candidates = [];
        List<int> any = [];
        int token = 0;
        while (e.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            any.Add(index.Index);
            if (info.Kind == preferred)
            {
                candidates.Add(index.Index);
            }
        }

        List<int> from = candidates.Count > 0 && rng.Next(5) > 0 ? candidates : any;
        return from.Count == 0 ? rng.Next(24) : from[rng.Next(from.Count)];
    }

    private static CapabilityError Add(List<DomainHandle> domains, DomainHandle d)
    {
        domains.Add(d);
        return CapabilityError.Ok;
    }
}
