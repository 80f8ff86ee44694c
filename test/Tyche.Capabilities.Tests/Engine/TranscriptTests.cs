// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>The reference transcript of scenario-language.md replayed through the API.</summary>
public sealed class TranscriptTests
{
    private const string ExpectedSerialization =
        "6361706101800f000000000000000000000100000000008481000000000100400000000000000050000000000000852000000000000000"
        + "ababababababababababababababababababababababababababababababababff0200000000000000001f00000000000000402000000000"
        + "0000000021010000000000000041010000000000000000000000000000004020010000000000000041ffff00";

    [Fact]
    public void ReferenceTranscriptReplaysExactly()
    {
        CapabilityEngine e = new();
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        Assert.Equal("H(0, gen 0)", d0.ToString());
        e.StartDomainOnCore(d0, 0);
        LocalCapability r0 = e.CreateRootRegion(d0, A(0, 0x10000, MemoryOperations.Rights));
        Assert.Equal(0, r0.Index);
        LocalCapability m1 = e.CreateDomain(d0);
        Assert.Equal(1, m1.Index);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        Assert.Equal("H(1, gen 0)", d1.ToString());
        LocalCapability c1 = e.Carve(d0, r0, A(0x2000, 0x3000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup));
        Assert.Equal(2, c1.Index);
        LocalCapability a1 = e.Alias(d0, r0, A(0x4000, 0x5000, MemoryOperations.Read));
        Assert.Equal(3, a1.Index);
        LocalCapability v1 = e.CreateRevokeCapability(d0, a1);
        Assert.Equal(4, v1.Index);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, 0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 1);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Trap, 2);
        Assert.Equal(CapabilityError.Ok, e.TryGetDomainConfiguration(d0, ConfigurationBitmap.Permission, out ulong perm));
        Assert.Equal(0x1FUL, perm);
        Assert.Equal(CapabilityError.Ok, e.TrySendWithHash(d0, a1, m1, RegionHash.Filled(0xab), out LocalCapability x));
        Assert.Equal(0, x.Index);
        Assert.Equal(CapabilityError.Ok, e.TryGetDomainInfo(d1, out DomainInfo info));
        Assert.Equal(new DomainInfo(2, d0, false, false, 0, 1, DomainPermissions.None, 2), info);

        AccessRights[] eff = new AccessRights[4];
        Assert.Equal(CapabilityError.Ok, e.TryGetEffectiveRegions(d0, r0, eff, out int n));
        Assert.Equal("[0x0, 0x2000 | RWXS], [0x3000, 0x10000 | RWXS]", string.Join(", ", eff[..n]));
        Assert.Equal("{0:Region([0x0, 0x10000 | PURWXS]), 1:Management(2 | _), 2:Region([0x2000, 0x3000 | _URW__]), 4:RegionRevoke([0x4000, 0x5000 | _R___])}", e.Enumerate(d0));
        Assert.Equal(CapabilityError.Ok, e.TryGetCapabilityInfo(d0, c1, out CapabilityInfo ci));
        ci.Serialize(out ulong s1, out ulong s2, out ulong s3);
        Assert.Equal((0x2000UL, 0x3000UL, 0x8f04UL), (s1, s2, s3));
        Assert.Equal("{[0x0, 0x2000 | RWXS] -> [0x2000, 0x3000 | RW__] -> [0x3000, 0x10000 | RWXS]}", e.Permissions(d0));
        Assert.Equal("{[0x0, 0x2000 | 1 (1 - 1 - 1 - 1)] -> [0x2000, 0x3000 | 1 (1 - 1 - 0 - 0)] -> [0x3000, 0x10000 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));

        LocalCapability s = e.Seal(d0, 0, m1);
        Assert.Equal(3, s.Index);
        e.Switch(d0, 0, s);
        Assert.Equal(CapabilityError.Ok, e.TryHandleTrap(d1, 0, 1, 5));
        Assert.Equal(CapabilityError.Ok, e.TryHandleViolation(d1, 0));
        e.Revoke(d0, c1);
        Assert.Equal(
            "{CreateDomain(H(0, gen 0)), PermissionUpdate(H(0, gen 0), cores 0x1), CreateDomain(H(1, gen 0)), PermissionUpdate(H(1, gen 0), cores 0x0), "
            + "Switch(H(1, gen 0), core 0, return_capa 1), Trap(manager H(0, gen 0), trap 0x1, info 0x5, core 0), Switch(H(0, gen 0), core 0, return_capa 3), Cleanup([0x2000, 0x3000])}",
            e.DetailedUpdates());
        Assert.Equal(CapabilityError.Ok, e.TryConditionalPermissionUpdate(d0));
        Assert.Equal("{PermissionUpdate(H(0, gen 0))}", e.Updates());

        int length = e.GetAttestationLength();
        byte[] bytes = new byte[length];
        Assert.Equal(CapabilityError.Ok, e.TrySerializeAttestation(bytes, out int written));
        Assert.Equal(155, written);
        Assert.Equal(ExpectedSerialization, Convert.ToHexStringLower(bytes));
        Assert.Equal(CapabilityError.OutOfMemory, e.TrySerializeAttestation(new byte[length - 1], out int none));
        Assert.Equal(0, none);

        Assert.Equal(new FreeCapacity(30, 1022, 1022, 128, 256), e.GetFreeCapacity());
        e.AssertInvariants();
        e.Revoke(d0, m1);
        Assert.Equal("{RevokeDomain(H(1, gen 0))}", e.DetailedUpdates());
        Assert.False(e.IsLive(d1));
        e.AssertInvariants();
    }
}
