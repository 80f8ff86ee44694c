// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// The upstream tests' BOOT(N): a manager domain with every permission, started on core 0, owning a root region
/// <c>[0, N)</c> with <see cref="MemoryOperations.All"/> in local slot 0. Updates are drained after boot.
/// </summary>
internal sealed class Booted
{
    public Booted(EngineCapacities? capacities = null, ulong size = 0x1000)
    {
        Engine = new CapabilityEngine(capacities);
        Check.Ok(Engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        D0 = d0;
        Check.Ok(Engine.TryStartDomainOnCore(D0, 0));
        Check.Ok(Engine.TryCreateRootRegion(D0, new AccessRights(0, size, MemoryOperations.All), out LocalCapability r0));
        R0 = r0;
        Drain();
    }

    public CapabilityEngine Engine { get; }

    public DomainHandle D0 { get; }

    public LocalCapability R0 { get; }

    /// <summary>Creates a child of <paramref name="manager"/> (default d0) and sets all three bitmaps so that it can be sealed.</summary>
    public LocalCapability Child(out DomainHandle child, DomainPermissions permissions = DomainPermissions.All, ulong cores = 1, ulong traps = 0,
        DomainHandle? manager = null)
    {
        DomainHandle m = manager ?? D0;
        Check.Ok(Engine.TryCreateDomain(m, out LocalCapability management));
        Check.Ok(Engine.TryGetDomainHandle(m, management, out child));
        Check.Ok(Engine.TrySetChildConfiguration(m, management, ConfigurationBitmap.Permission, (ulong)permissions));
        Check.Ok(Engine.TrySetChildConfiguration(m, management, ConfigurationBitmap.Core, cores));
        Check.Ok(Engine.TrySetChildConfiguration(m, management, ConfigurationBitmap.Trap, traps));
        return management;
    }

    /// <summary>A configured and sealed child; returns the switch capability to it (core 0).</summary>
    public LocalCapability SealedChild(out DomainHandle child, out LocalCapability management, DomainPermissions permissions = DomainPermissions.All)
    {
        management = Child(out child, permissions);
        Check.Ok(Engine.TrySeal(D0, 0, management, out LocalCapability sw));
        return sw;
    }

    public int Drain()
    {
        int n = 0;
        while (Engine.TryPopUpdate(out _))
        {
            n++;
        }

        return n;
    }

    /// <summary>Fills <paramref name="domain"/>'s table with revoke capabilities of <paramref name="region"/> until it is full.</summary>
    public int FillTable(DomainHandle domain, LocalCapability region)
    {
        int n = 0;
        while (Engine.TryCreateRevokeCapability(domain, region, out _) == CapabilityError.Ok)
        {
            n++;
            if (n > 100_000)
            {
                throw new InvalidOperationException("the table never fills");
            }
        }

        return n;
    }

    /// <summary>Fills the update queue with Trap updates routed to d0 (its TRAP bitmap is all ones).</summary>
    public int FillQueue(DomainHandle unsealedChild)
    {
        int n = 0;
        while (Engine.TryHandleTrap(unsealedChild, 0, 1, 0) == CapabilityError.Ok)
        {
            n++;
            if (n > 100_000)
            {
                throw new InvalidOperationException("the queue never fills");
            }
        }

        return n;
    }
}

/// <summary>Assertion helpers.</summary>
internal static class Check
{
    public static void Ok(CapabilityError error) => Assert.Equal(CapabilityError.Ok, error);

    /// <summary>
    /// Runs <paramref name="operation"/>, asserts it returns <paramref name="expected"/>, and asserts that the engine's
    /// complete dump, its free capacities and its pending-update count are exactly as before (SPEC fix 1).
    /// </summary>
    public static void FailsAtomically(CapabilityEngine engine, CapabilityError expected, Func<CapabilityError> operation)
    {
        Assert.NotEqual(CapabilityError.Ok, expected);
        EngineState before = EngineState.Capture(engine);
        CapabilityError actual = operation();
        EngineState after = EngineState.Capture(engine);
        Assert.Equal(expected, actual);
        Assert.Equal(before.Free, after.Free);
        Assert.Equal(before.Pending, after.Pending);
        Assert.Equal(before.Dump, after.Dump);
        Span<InvariantViolation> violations = stackalloc InvariantViolation[4];
        Assert.Equal(0, engine.CheckInvariants(violations));
    }

    public static void NoViolations(CapabilityEngine engine)
    {
        Span<InvariantViolation> violations = stackalloc InvariantViolation[4];
        int n = engine.CheckInvariants(violations);
        Assert.True(n == 0, $"{n} invariant violation(s), first {(n > 0 ? violations[0].ToString() : string.Empty)}");
    }
}
