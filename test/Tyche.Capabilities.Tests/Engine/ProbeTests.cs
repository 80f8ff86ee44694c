// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Engine;

/// <summary>Behaviour the notes record as observed on the real Rust engine ([probe] marks in tyche-capa-engine.md).</summary>
public sealed class ProbeTests
{
    [Fact]
    public void UpdateSequencesOfSendAndDomainRevocation()
    {
        var (e, d0, r0) = Boot(0x1000);
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability c = e.Carve(d0, r0, A(0, 0x100));
        e.Updates();
        e.Send(d0, c, m1);
        Assert.Equal("{PermissionUpdate(H(0, gen 0), cores 0x1), PermissionUpdate(H(1, gen 0), cores 0x0)}", e.DetailedUpdates());

        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Permission, (ulong)DomainPermissions.Spawn);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Core, 0);
        e.SetChildConfiguration(d0, m1, ConfigurationBitmap.Trap, 0);
        DomainHandle d1 = e.GetDomainHandle(d0, m1);
        e.CreateDomain(d1);
        e.Seal(d0, 0, m1);
        e.Updates();
        e.Revoke(d0, m1);
        Assert.Equal("{RevokeDomain(H(1, gen 0)), PermissionUpdate(H(0, gen 0)), RevokeDomain(H(2, gen 0))}", e.Updates());
        e.AssertInvariants();
    }

    [Fact]
    public void CapacityAfter127Aliases()
    {
        var (e, d0, r0) = Boot(0x1000);
        for (int i = 0; i < 127; i++)
        {
            e.Alias(d0, r0, A(0, 0x100));
        }

        e.AssertFailsUnchanged(CapabilityError.OutOfMemory, () => e.TryAlias(d0, r0, A(0, 0x1000), out _));
        Assert.Equal(new FreeCapacity(31, 896, 1022, 126, 256), e.GetFreeCapacity());
    }

    [Fact]
    public void ThirtyOneChildDomainsFit()
    {
        CapabilityEngine e = new();
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        for (int i = 0; i < 31; i++)
        {
            Assert.Equal(CapabilityError.Ok, e.TryCreateDomain(d0, out _));
            e.Updates();
        }

        e.AssertFailsUnchanged(CapabilityError.OutOfMemory, () => e.TryCreateDomain(d0, out _));
    }

    [Fact]
    public void CarveWithNoRightsSucceeds()
    {
        var (e, d0, r0) = Boot(0x1000);
        Assert.Equal(CapabilityError.Ok, e.TryCarve(d0, r0, A(0, 0x100, MemoryOperations.None), out _));
        Assert.Equal("{[0x0, 0x100 | 1 (0 - 0 - 0 - 0)] -> [0x100, 0x1000 | 1 (1 - 1 - 1 - 1)]}", e.Regions(d0));
    }

    [Fact]
    public void CapabilityRegisterEncodings()
    {
        CapabilityEngine e = new();
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        LocalCapability root = e.CreateRootRegion(d0, A(0x1000, 0x2000, MemoryOperations.Read | MemoryOperations.Write));
        LocalCapability alias = e.Alias(d0, root, A(0x1000, 0x1100, MemoryOperations.Read));
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability rv = e.CreateRevokeCapability(d0, root);
        Assert.Equal((0x1000UL, 0x2000UL, 0x0F04UL), Raw(e, d0, root));
        Assert.Equal((2UL, 1UL, 1UL), Raw(e, d0, m1));
        Assert.Equal((0x1000UL, 0x2000UL, 0x0E05UL), Raw(e, d0, rv));
        LocalCapability v = e.Carve(d0, root, A(0x1800, 0x1900, MemoryOperations.Read | MemoryOperations.Cleanup | MemoryOperations.Vital));
        // The reference truncates to a byte (0x8704, VITAL lost); this engine keeps all seven bits.
        Assert.Equal((0x1800UL, 0x1900UL, 0x18704UL), Raw(e, d0, v));
        Assert.Equal(CapabilityError.Ok, e.TryGetCapabilityInfo(d0, alias, out CapabilityInfo info));
        Assert.False(info.Unique);
    }

    private static (ulong, ulong, ulong) Raw(CapabilityEngine e, DomainHandle d, LocalCapability c)
    {
        Assert.Equal(CapabilityError.Ok, e.TryGetCapabilityInfo(d, c, out CapabilityInfo info));
        info.Serialize(out ulong v1, out ulong v2, out ulong v3);
        return (v1, v2, v3);
    }

    [Fact]
    public void AttestationSerializationProbe()
    {
        CapabilityEngine e = new();
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        LocalCapability root = e.CreateRootRegion(d0, A(0x1000, 0x2000, MemoryOperations.Read | MemoryOperations.Write));
        LocalCapability m1 = e.CreateDomain(d0);
        LocalCapability alias = e.Alias(d0, root, A(0x1000, 0x1100, MemoryOperations.Read));
        e.TrySendWithHash(d0, alias, m1, RegionHash.Filled(0x5a), out _);
        e.Carve(d0, root, A(0x1800, 0x1900, MemoryOperations.Read | MemoryOperations.Write));
        byte[] bytes = new byte[e.GetAttestationLength()];
        Assert.Equal(CapabilityError.Ok, e.TrySerializeAttestation(bytes, out int written));
        Assert.Equal(187, written); // the reference writes 186 bytes and reports 187; this format ends with a 0x00 trailer
        Assert.Equal("capa"u8.ToArray(), bytes[..4]);
        int p = 5;
        Assert.Equal(0x80, bytes[p]); // root
        p += 19;
        Assert.Equal(0x81, bytes[p]); // alias, parent 0, with hash
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(p + 1)));
        Assert.Equal(0x85, bytes[p + 22]);
        p += 63;
        Assert.Equal(0x82, bytes[p]); // carve, parent 0
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(p + 1)));
        p += 23;
        Assert.Equal(new byte[] { 0xFF, 0x02 }, bytes[p..(p + 2)]);
        p += 2;
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(p)));
        Assert.Equal(0x1FUL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(p + 8)));
        Assert.Equal(0x40, bytes[p + 16]);
        Assert.Equal(new byte[] { 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 1, 0, 0, 0, 0, 0, 0, 0, 0x20, 2, 0, 0, 0, 0, 0, 0, 0, 0x41 }, bytes[(p + 17)..(p + 45)]);
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0x00 }, bytes[^3..]);
    }
}
