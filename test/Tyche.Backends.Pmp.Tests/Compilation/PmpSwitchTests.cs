// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using static Tyche.Backends.Pmp.Tests.Support.Ranges;

namespace Tyche.Backends.Pmp.Tests.Compilation;

/// <summary>Switch write lists: only what differs and matters, monitor entries never touched, the right fence.</summary>
public sealed class PmpSwitchTests
{
    private static readonly PmpMonitorRegion[] Monitor = [new(0x807f_0000, 0x8080_0000, PmpConfigBits.None)];

    private static readonly MemoryPermission[] DomainA =
    [
        P(0x8001_0000, 0x8001_1000, "RX"),
        P(0x8040_0000, 0x8040_1000, "RW"),
        P(0x8041_0000, 0x8041_3000, "R"),
        P(0x8050_0000, 0x8050_0004, "RW"),
    ];

    private static PmpCsrWrite[] Writes(PmpCompiler compiler, PmpImage current, PmpImage target, out PmpFence fence)
    {
        var buffer = new PmpCsrWrite[compiler.MaxSwitchWrites];
        Assert.Equal(PmpStatus.Ok, compiler.GetSwitchWrites(current, target, buffer, out int written, out fence));
        return buffer.AsSpan(0, written).ToArray();
    }

    private static void AssertSameRights(PmpImage a, PmpImage b)
    {
        for (ulong addr = 0x8000_0000; addr < 0x8080_0000; addr += 0x1000)
        {
            foreach (ulong probe in new[] { addr, addr + 4, addr + 0xffc })
            {
                foreach (AccessKind k in new[] { AccessKind.Read, AccessKind.Write, AccessKind.Execute })
                {
                    Assert.Equal(PmpReferenceWalker.Allows(a, 56, probe, 4, k, PrivilegeMode.Supervisor), PmpReferenceWalker.Allows(b, 56, probe, 4, k, PrivilegeMode.Supervisor));
                }
            }
        }
    }

    [Fact]
    public void Switching_from_the_boot_image_writes_the_used_addresses_and_each_changed_cfg_register_then_sfence()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), Monitor);
        PmpImage hart = compiler.CreateImage();
        PmpImage a = compiler.CreateImage();
        Assert.True(compiler.Compile(DomainA, a).IsOk);

        PmpCsrWrite[] writes = Writes(compiler, hart, a, out PmpFence fence);
        // entries 1..5: NAPOT stub, NAPOT RW page, OFF bound + TOR, NA4 -> 5 addresses, then pmpcfg0 only.
        Assert.Equal(6, writes.Length);
        Assert.All(writes.AsSpan(0, 5).ToArray(), w => Assert.InRange(w.Csr, (ushort)0x3B1, (ushort)0x3B5));
        Assert.Equal(new PmpCsrWrite(0x3A0, a.GetConfigRegister(0)), writes[5]);
        Assert.Equal("csrw pmpcfg0, 0x" + a.GetConfigRegister(0).ToString("x", System.Globalization.CultureInfo.InvariantCulture), writes[5].ToString());
        Assert.Equal(PmpFence.SfenceVma, fence);

        compiler.ApplyWrites(hart, writes);
        Assert.True(hart.ContentEquals(a));
        Assert.Empty(Writes(compiler, hart, a, out PmpFence none));
        Assert.Equal(PmpFence.None, none);
    }

    [Fact]
    public void Changing_the_rights_of_one_region_costs_one_cfg_write()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), Monitor);
        PmpImage before = compiler.CreateImage();
        Assert.True(compiler.Compile(DomainA, before).IsOk);
        MemoryPermission[] changed = (MemoryPermission[])DomainA.Clone();
        changed[1] = P(0x8040_0000, 0x8040_1000, "R");
        PmpImage after = compiler.CreateImage();
        Assert.True(compiler.Compile(changed, after, before).IsOk);

        PmpCsrWrite[] writes = Writes(compiler, before, after, out _);
        Assert.Single(writes);
        Assert.Equal((ushort)0x3A0, writes[0].Csr);
    }

    [Fact]
    public void Removing_a_region_keeps_the_others_in_place_so_only_its_cfg_changes()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), Monitor);
        PmpImage before = compiler.CreateImage();
        Assert.True(compiler.Compile(DomainA, before).IsOk);
        MemoryPermission[] fewer = [DomainA[0], DomainA[2], DomainA[3]];
        PmpImage after = compiler.CreateImage();
        Assert.True(compiler.Compile(fewer, after, before).IsOk);

        PmpCsrWrite[] writes = Writes(compiler, before, after, out _);
        Assert.Single(writes); // without the previous image the later entries would shift: 4 address writes + 1 cfg
        PmpImage canonical = compiler.CreateImage();
        Assert.True(compiler.Compile(fewer, canonical).IsOk);
        Assert.True(Writes(compiler, before, canonical, out _).Length > 1);
        AssertSameRights(after, canonical);
    }

    [Fact]
    public void Adding_a_region_costs_its_address_and_one_cfg_register()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), Monitor);
        PmpImage before = compiler.CreateImage();
        Assert.True(compiler.Compile(DomainA, before).IsOk);
        MemoryPermission[] more = [.. DomainA, P(0x8060_0000, 0x8060_2000, "RWX")];
        PmpImage after = compiler.CreateImage();
        Assert.True(compiler.Compile(more, after, before).IsOk);
        PmpCsrWrite[] writes = Writes(compiler, before, after, out _);
        Assert.Equal(2, writes.Length);
        Assert.Equal((ushort)0x3B6, writes[0].Csr);
        Assert.Equal((ushort)0x3A0, writes[1].Csr);
    }

    [Fact]
    public void Switching_between_two_domains_then_back_restores_exact_rights_and_never_writes_monitor_entries()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), Monitor);
        PmpImage a = compiler.CreateImage();
        PmpImage b = compiler.CreateImage();
        Assert.True(compiler.Compile(DomainA, a).IsOk);
        Assert.True(compiler.Compile([P(0x8001_0000, 0x8001_1000, "X"), P(0x8060_0000, 0x8070_0000, "RW")], b).IsOk);
        PmpImage hart = compiler.CreateImage();
        a.CopyTo(hart);
        foreach (PmpImage target in new[] { b, a, b })
        {
            PmpCsrWrite[] writes = Writes(compiler, hart, target, out PmpFence fence);
            Assert.Equal(PmpFence.SfenceVma, fence);
            Assert.DoesNotContain(writes, w => w.Csr == PmpEncoding.AddressCsr(0));
            compiler.ApplyWrites(hart, writes);
            AssertSameRights(hart, target);
        }
    }

    [Fact]
    public void Fence_follows_the_hart_features()
    {
        var bare = new PmpCompiler(new PmpHartOptions { HasAddressTranslation = false });
        var hyp = new PmpCompiler(new PmpHartOptions { HasHypervisor = true });
        Assert.Equal(PmpFence.None, bare.RequiredFence);
        Assert.Equal(PmpFence.SfenceVma | PmpFence.HfenceGvma, hyp.RequiredFence);
        PmpImage target = bare.CreateImage();
        Assert.True(bare.Compile(DomainA, target).IsOk);
        Assert.Equal(PmpStatus.Ok, bare.GetSwitchWrites(bare.CreateImage(), target, new PmpCsrWrite[bare.MaxSwitchWrites], out int n, out PmpFence fence));
        Assert.True(n > 0);
        Assert.Equal(PmpFence.None, fence);
    }

    [Fact]
    public void A_short_destination_or_wrong_shape_writes_nothing()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), Monitor);
        PmpImage a = compiler.CreateImage();
        Assert.True(compiler.Compile(DomainA, a).IsOk);
        var small = new PmpCsrWrite[2];
        Assert.Equal(PmpStatus.DestinationTooSmall, compiler.GetSwitchWrites(compiler.CreateImage(), a, small, out int n, out PmpFence f));
        Assert.Equal(0, n);
        Assert.Equal(PmpFence.None, f);
        Assert.All(small, w => Assert.Equal(default, w));
        var other = new PmpImage(PmpXlen.Rv32, 16);
        Assert.Equal(PmpStatus.ShapeMismatch, compiler.GetSwitchWrites(other, a, new PmpCsrWrite[32], out _, out _));
        Assert.Equal(PmpStatus.ShapeMismatch, compiler.Compile(DomainA, other).Status);
    }

    [Fact]
    public void Applying_writes_respects_locks_like_the_hart()
    {
        var compiler = new PmpCompiler(new PmpHartOptions(), [new PmpMonitorRegion(0x8000_0000, 0x8003_0000, PmpConfigBits.Read)]);
        PmpImage hart = compiler.CreateImage();
        PmpImage snapshot = compiler.CreateImage();
        // entry 1 is a locked TOR: pmpaddr0 and pmpaddr1 and both cfg bytes ignore writes (Privileged ISA §3.7.1.2)
        compiler.ApplyWrites(hart, [new PmpCsrWrite(0x3B0, 0x1234), new PmpCsrWrite(0x3B1, 0x5678), new PmpCsrWrite(0x3A0, 0)]);
        Assert.True(hart.ContentEquals(snapshot));
    }
}
