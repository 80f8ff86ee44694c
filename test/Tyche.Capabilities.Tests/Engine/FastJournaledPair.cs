// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>
/// Two identical engines for the fast-path tests: <see cref="Fast"/> runs each operation bare (outside any explicit
/// transaction, so the unjournaled fast paths may be taken), <see cref="Journaled"/> runs the same call inside
/// Begin/Commit (always the journaled path).
/// </summary>
internal sealed class FastJournaledPair
{
    public FastJournaledPair(EngineCapacities capacities, Action<CapabilityEngine> setup)
    {
        Fast = new CapabilityEngine(capacities);
        Journaled = new CapabilityEngine(capacities);
        setup(Fast);
        setup(Journaled);
        Assert.Equal(Fast.DumpState(), Journaled.DumpState());
    }

    public CapabilityEngine Fast { get; }

    public CapabilityEngine Journaled { get; }

    /// <summary>Runs the operation on both engines; asserts equal results and states, and no change on failure.</summary>
    public CapabilityError Do(Func<CapabilityEngine, CapabilityError> op)
    {
        string before = Fast.DumpState();
        CapabilityError fast = op(Fast);
        Assert.False(Fast.InTransaction);
        Journaled.BeginTransaction();
        CapabilityError journaled = op(Journaled);
        Journaled.CommitTransaction();
        Assert.Equal(journaled, fast);
        string after = Fast.DumpState();
        Assert.Equal(Journaled.DumpState(), after);
        if (fast != CapabilityError.Ok)
        {
            Assert.Equal(before, after);
        }

        return fast;
    }

    /// <summary>Both engines emitted the same update stream and hold the same state.</summary>
    public void AssertSameUpdates()
    {
        Assert.Equal(Journaled.DetailedUpdates(), Fast.DetailedUpdates());
        Assert.Equal(Fast.DumpState(), Journaled.DumpState());
    }

    /// <summary>As <see cref="AssertSameUpdates"/>, and the invariant checker finds nothing on either engine.</summary>
    public void AssertSameUpdatesAndInvariants()
    {
        Assert.Equal(0, Fast.CheckInvariants(new InvariantViolation[4]));
        Assert.Equal(0, Journaled.CheckInvariants(new InvariantViolation[4]));
        AssertSameUpdates();
    }
}
