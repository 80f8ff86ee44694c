// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>
/// A steady-state mix of engine operations — successes and errors, transfers, revocations with cascades and cleanup,
/// switches, traps, enumeration, update draining and every span-based inspection — that returns the engine to the same
/// shape after each round. Shared by the allocation test and the allocation benchmark (linked into Tyche.Benchmarks).
/// No lambdas, no boxing, no strings: every output goes into preallocated buffers.
/// </summary>
internal sealed class MixedBatch
{
    private readonly Update[] _updates = new Update[256];
    private readonly MemoryMapSegment[] _map = new MemoryMapSegment[64];
    private readonly MemoryPermission[] _permissions = new MemoryPermission[64];
    private readonly TrackerSegment[] _segments = new TrackerSegment[64];
    private readonly InvariantViolation[] _violations = new InvariantViolation[8];
    private readonly AccessRights[] _pieces = new AccessRights[16];
    private readonly DomainHandle[] _domains = new DomainHandle[8];
    private readonly MemoryAccessor[] _accessors = new MemoryAccessor[8];
    private readonly DeviceId[] _devices = new DeviceId[8];
    private readonly byte[] _attestation = new byte[8192];
    private readonly RegionHash _hash = RegionHash.Filled(0x5A);
    private readonly DomainHandle _stale = new(7, 3);
    private LocalCapability _switch;

    public MixedBatch()
    {
        Engine = new CapabilityEngine();
        Expect(Engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle d0));
        D0 = d0;
        Expect(Engine.TryStartDomainOnCore(D0, 0));
        Expect(Engine.TryCreateRootRegion(D0, new AccessRights(0, 0x100000, MemoryOperations.All), out LocalCapability r0));
        R0 = r0;
        Expect(Engine.TryCreateRootDevice(D0, new DeviceId(0, 0, 2, 0), out _));
        Expect(Engine.TryCreateDomain(D0, out LocalCapability m1));
        M1 = m1;
        Expect(Engine.TryGetDomainHandle(D0, M1, out DomainHandle d1));
        D1 = d1;
        Expect(Engine.TrySetChildConfiguration(D0, M1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.All));
        Expect(Engine.TrySetChildConfiguration(D0, M1, ConfigurationBitmap.Core, 1));
        Expect(Engine.TrySetChildConfiguration(D0, M1, ConfigurationBitmap.Trap, 0));
        Expect(Engine.TrySeal(D0, 0, M1, out _switch));
        Expect(Engine.TryAlias(D0, R0, new AccessRights(0xF0000, 0xF1000, MemoryOperations.Read), out LocalCapability readOnly));
        ReadOnly = readOnly;
        Engine.DrainUpdates(_updates);
        if (Unexpected != 0)
        {
            throw new InvalidOperationException("the mixed batch could not be set up");
        }
    }

    public CapabilityEngine Engine { get; }

    public DomainHandle D0 { get; }

    public DomainHandle D1 { get; }

    public LocalCapability R0 { get; }

    public LocalCapability M1 { get; }

    public LocalCapability ReadOnly { get; }

    /// <summary>Operations whose outcome differed from the expected one (must stay 0).</summary>
    public int Unexpected { get; private set; }

    /// <summary>Engine calls made so far.</summary>
    public long Operations { get; private set; }

    private void Expect(CapabilityError actual, CapabilityError expected = CapabilityError.Ok)
    {
        Operations++;
        if (actual != expected)
        {
            Unexpected++;
        }
    }

    private void ExpectTrue(bool value)
    {
        Operations++;
        if (!value)
        {
            Unexpected++;
        }
    }

    /// <summary>Runs rounds until at least <paramref name="operations"/> engine calls were made; returns the calls made.</summary>
    public long RunOperations(long operations)
    {
        long start = Operations;
        while (Operations - start < operations)
        {
            Round();
        }

        return Operations - start;
    }

    /// <summary>One round (about 50 engine calls); the engine ends in the same shape it started in.</summary>
    public void Round()
    {
        CapabilityEngine e = Engine;

        // Derivations and transfers.
        Expect(e.TryAlias(D0, R0, new AccessRights(0x1000, 0x2000, MemoryOperations.Read | MemoryOperations.Write), out LocalCapability a));
        Expect(e.TryCarve(D0, R0, new AccessRights(0x4000, 0x5000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup),
            CleanupPolicy.ZeroAndFlush, out LocalCapability c));
        Expect(e.TryCreateRevokeCapability(D0, c, out LocalCapability revokeCarve));
        Expect(e.TrySend(D0, a, M1, out LocalCapability aliasInChild));
        Expect(e.TrySendWithHash(D0, c, M1, _hash, out _));
        Expect(e.TryShare(D0, R0, new AccessRights(0x6000, 0x7000, MemoryOperations.Read), M1, out LocalCapability revokeShare, out _));
        Expect(e.TryGrant(D0, R0, new AccessRights(0x8000, 0x9000, MemoryOperations.Read | MemoryOperations.Write), M1,
            out LocalCapability revokeGrant, out _));
        Expect(e.TryDuplicate(D0, revokeGrant, out LocalCapability duplicate));

        // Errors.
        Expect(e.TryAlias(D0, R0, new AccessRights(0x2000, 0x1000, MemoryOperations.Read), out _), CapabilityError.InvalidOperation);
        Expect(e.TryAlias(D0, ReadOnly, new AccessRights(0xF0000, 0xF1000, MemoryOperations.Read | MemoryOperations.Write), out _),
            CapabilityError.InvalidOperation);
        Expect(e.TryCarve(D0, R0, new AccessRights(0x8000, 0x8800, MemoryOperations.Read), out _), CapabilityError.InvalidOperation);
        Expect(e.TryRevoke(D0, R0), CapabilityError.InvalidOperation);
        Expect(e.TryRevoke(D0, 9999), CapabilityError.CapabilityDoesNotExist);
        Expect(e.TryRevoke(D0, -1), CapabilityError.CapabilityDoesNotExist);
        Expect(e.TryCreateDomain(_stale, out _), CapabilityError.StaleDomain);
        Expect(e.TrySeal(D0, 0, M1, out _), CapabilityError.AlreadySealed);
        Expect(e.TrySetChildConfiguration(D0, M1, ConfigurationBitmap.Core, 1), CapabilityError.AlreadySealed);
        Expect(e.TryDuplicate(D0, R0, out _), CapabilityError.CannotDuplicate);
        Expect(e.TrySend(D0, M1, M1, out _), CapabilityError.ManagementCycle);
        Expect(e.TryRevokeDomain(D0), CapabilityError.DomainRunning);
        Expect(e.TryHandleTrap(D0, 0, 1, 0), CapabilityError.ValidTrapCausedExit);
        Expect(e.TrySwitch(D0, 1, _switch), CapabilityError.InvalidCore);

        // Switch into the child, trap, and come back through the violation path.
        Expect(e.TrySwitch(D0, 0, _switch));
        Expect(e.TryHandleTrap(D1, 0, 1, 0x42));
        Expect(e.TryHandleViolation(D1, 0));
        int n = e.DrainUpdates(_updates);
        ExpectTrue(n > 0);
        for (int i = 0; i < n; i++)
        {
            if (_updates[i].Kind == UpdateKind.Switch && _updates[i].Domain == D0)
            {
                _switch = _updates[i].ReturnCapability;
            }
        }

        // Inspection into spans.
        Expect(e.TryGetMemoryMap(_map, out _));
        Expect(e.TryGetPermissions(D0, _permissions, out _));
        Expect(e.TryGetTrackerSegments(D1, _segments, out _));
        Expect(e.TryGetAccessors(0x6000, _accessors, out _));
        Expect(e.TryGetEffectiveRegions(D0, R0, _pieces, out _));
        Expect(e.TryGetDomainInfo(D1, out _));
        Expect(e.TryGetCapabilityInfo(D0, R0, out _));
        Expect(e.TrySerializeAttestation(_attestation, out _));
        ExpectTrue(e.CheckInvariants(_violations) == 0);
        ExpectTrue(e.GetDomains(_domains) == 2);
        ExpectTrue(e.GetDevices(D0, _devices) == 1);
        ExpectTrue(e.GetFreeCapacity().Domains > 0);
        ExpectTrue(e.GetDomainsAllowedOnCore(0, _domains) == 2);
        Expect(e.TryGetRunningDomain(0, out _));
        Enumerate(D0);
        Enumerate(D1);

        // Revocations: carve with cleanup (cascade into the child), share, grant and its duplicate, the sent alias.
        Expect(e.TryRevoke(D0, revokeCarve));
        Expect(e.TryRevoke(D0, revokeShare));
        Expect(e.TryRevoke(D0, duplicate));
        Expect(e.TryRevoke(D0, revokeGrant));
        Expect(e.TryRevoke(D1, aliasInChild));
        Expect(e.TryConditionalPermissionUpdate(D1));
        ExpectTrue(e.PendingUpdateCount > 0);
        while (e.TryPopUpdate(out Update u))
        {
            Operations++;
            if (u.Kind == UpdateKind.Switch && u.Domain == D0)
            {
                _switch = u.ReturnCapability;
            }
        }

        Enumerate(D0);
        Enumerate(D1);
    }

    private void Enumerate(DomainHandle domain)
    {
        int token = 0;
        while (Engine.TryEnumerate(domain, ref token, out _, out _))
        {
            Operations++;
        }

        Operations++;
    }
}
