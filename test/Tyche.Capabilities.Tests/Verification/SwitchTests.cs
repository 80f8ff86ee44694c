// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>Switching: which domain may switch on which core, and the running-core bookkeeping it leaves behind.</summary>
public sealed class SwitchTests
{
    /// <summary>
    /// A domain that is not running on core 1 switches "from" core 1. The engine (like the reference, which only logs
    /// "clearing a bit that was not set") accepts it: core 1 now runs d1 while d2, which was running there, keeps its
    /// running bit — two domains claim core 1, d2 can no longer be revoked (DomainRunning) although nothing runs it, and
    /// PermissionUpdates for d2 name a core it is not on. The switch must be refused with InvalidCore and change nothing.
    /// </summary>
    [Fact]
    public void Switch_by_a_domain_not_running_on_that_core_is_refused()
    {
        var b = new Booted(new EngineCapacities { Cores = 2 });
        CapabilityEngine e = b.Engine;
        LocalCapability m1 = b.Child(out DomainHandle d1, cores: 0b11);
        Check.Ok(e.TrySeal(b.D0, 1, m1, out LocalCapability toD1));
        Check.Ok(e.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d2));
        Check.Ok(e.TryStartDomainOnCore(d2, 1));
        b.Drain();
        Check.FailsAtomically(e, CapabilityError.InvalidCore, () => e.TrySwitch(b.D0, 1, toD1));
        Check.Ok(e.TryGetRunningDomain(1, out DomainHandle running));
        Assert.Equal(d2, running);
        _ = d1;
    }

    /// <summary>Whatever the switch history, exactly one live domain has each started core in its running set.</summary>
    [Fact]
    public void Each_started_core_is_claimed_by_exactly_the_domain_it_runs()
    {
        var b = new Booted(new EngineCapacities { Cores = 2 });
        CapabilityEngine e = b.Engine;
        LocalCapability toD1 = b.SealedChild(out DomainHandle d1, out _);
        Check.Ok(e.TrySwitch(b.D0, 0, toD1));
        Check.Ok(e.TryHandleViolation(d1, 0));
        Check.Ok(e.TryCreateSwitch(b.D0, 0, out LocalCapability self));
        Check.Ok(e.TrySwitch(b.D0, 0, self)); // a switch to oneself keeps the core
        Span<DomainHandle> live = stackalloc DomainHandle[4];
        int n = e.GetDomains(live);
        Check.Ok(e.TryGetRunningDomain(0, out DomainHandle running));
        int claims = 0;
        for (int i = 0; i < n; i++)
        {
            Check.Ok(e.TryGetDomainInfo(live[i], out DomainInfo info));
            if ((info.RunningCores & 1) != 0)
            {
                claims++;
                Assert.Equal(running, live[i]);
            }
        }

        Assert.Equal(1, claims);
    }
}
