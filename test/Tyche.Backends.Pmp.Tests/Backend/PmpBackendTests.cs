// SPDX-License-Identifier: Apache-2.0
using System;
using System.Linq;
using Tyche.Backends.Abstractions;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp.Tests.Backend;

/// <summary>The backend driven by the real engine through the Monitor facade.</summary>
public sealed class PmpBackendTests
{
    private const MemoryOperations RW = MemoryOperations.Read | MemoryOperations.Write;
    private const MemoryOperations RX = MemoryOperations.Read | MemoryOperations.Execute;

    [Fact]
    public void Images_follow_the_engine_through_shares_and_revocations()
    {
        var rig = new EngineRig();
        Assert.Equal(1, rig.Image(rig.D0).ActiveEntryCount); // 128 MiB NAPOT
        rig.AssertImageMatchesEngine(rig.D0);
        EngineRig.Ok(rig.Share(0x8000_0000, 0x8000_1000, RX, out LocalCapability r1));
        EngineRig.Ok(rig.Share(0x8000_1000, 0x8000_4000, RW, out LocalCapability r2));
        EngineRig.Ok(rig.Share(0x8010_0000, 0x8010_0004, MemoryOperations.Read, out _));
        rig.AssertImageMatchesEngine(rig.D1);
        EngineRig.Ok(rig.Monitor.TryRevoke(rig.D0, r2));
        rig.AssertImageMatchesEngine(rig.D1);
        EngineRig.Ok(rig.Monitor.TryRevoke(rig.D0, r1));
        rig.AssertImageMatchesEngine(rig.D1);
        rig.AssertImageMatchesEngine(rig.D0);
    }

    [Fact]
    public void A_change_needing_more_entries_than_exist_is_refused_before_the_engine_changes()
    {
        var rig = new EngineRig(monitorRegions: [new PmpMonitorRegion(0x9000_0000, 0x9001_0000, PmpConfigBits.None)]);
        int shared = 0;
        CapabilityError result = CapabilityError.Ok;
        string before = string.Empty;
        PmpImage snapshot = rig.Backend.Compiler.CreateImage();
        int permissionCount = 0;
        while (result == CapabilityError.Ok)
        {
            rig.Image(rig.D1).CopyTo(snapshot);
            before = string.Join(", ", rig.Permissions(rig.D1));
            permissionCount = rig.Engine.GetPermissionCount(rig.D1);
            ulong start = 0x8000_1000 + ((ulong)shared * 0x10000);
            result = rig.Share(start, start + 0x3000, RW, out _); // not NAPOT: OFF bound + TOR = 2 entries each
            shared++;
        }

        Assert.Equal(CapabilityError.RejectedByBackend, result);
        BackendRefusal refusal = rig.Monitor.LastRefusal;
        Assert.Equal("pmp", refusal.Backend);
        Assert.Equal(BackendRefusalReason.TooManyEntries, refusal.Reason);
        Assert.Equal(rig.D1, refusal.Domain);
        Assert.Equal(16UL, refusal.Needed);
        Assert.Equal(15UL, refusal.Available);
        Assert.Equal(8, shared); // 7 ranges fit in 14 entries; the 8th would need 16 of 15
        Assert.Equal(before, string.Join(", ", rig.Permissions(rig.D1)));
        Assert.Equal(permissionCount, rig.Engine.GetPermissionCount(rig.D1));
        Assert.True(rig.Image(rig.D1).ContentEquals(snapshot));
        Assert.Equal(0, rig.Engine.PendingUpdateCount);
    }

    [Fact]
    public void Misaligned_and_too_wide_ranges_are_refused_with_the_offending_address()
    {
        var rig = new EngineRig(new PmpHartOptions { Granularity = 10 });
        Assert.Equal(CapabilityError.RejectedByBackend, rig.Share(0x8000_1000, 0x8000_1800, RW, out _));
        Assert.Equal(BackendRefusalReason.MisalignedRange, rig.Monitor.LastRefusal.Reason);
        Assert.Equal(0x8000_1800UL, rig.Monitor.LastRefusal.Address);
        Assert.Equal(4096UL, rig.Monitor.LastRefusal.Available);

        var narrow = new EngineRig(new PmpHartOptions { PhysicalAddressBits = 32 });
        PmpImage before = narrow.Backend.Compiler.CreateImage();
        narrow.Image(narrow.D0).CopyTo(before);
        Assert.Equal(CapabilityError.RejectedByBackend, narrow.Monitor.TryCreateRootRegion(narrow.D0, new AccessRights(0xffff_f000, 0x1_0000_1000, RW), out _));
        Assert.Equal(BackendRefusalReason.AddressTooWide, narrow.Monitor.LastRefusal.Reason);
        Assert.Equal(0x1_0000_1000UL, narrow.Monitor.LastRefusal.Address);
        Assert.Equal(32UL, narrow.Monitor.LastRefusal.Available);
        Assert.True(narrow.Image(narrow.D0).ContentEquals(before));
        Assert.Single(narrow.Permissions(narrow.D0));
    }

    [Fact]
    public void A_permission_change_of_a_running_domain_loads_only_the_changed_csrs_on_its_cores_then_fences()
    {
        var rig = new EngineRig();
        // d0 was started on core 0 before it got memory: the root region's PermissionUpdate already loaded core 0.
        Assert.True(rig.Backend.IsCoreLoaded(0));
        Assert.False(rig.Backend.IsCoreLoaded(1));
        rig.AssertImageMatchesEngine(rig.D0, rig.Backend.GetCoreShadow(0));
        var boot = new MonitorActionList();
        Assert.True(rig.Backend.TryLoad(rig.D0, 0, boot));
        Assert.Equal(0, boot.Count); // nothing differs, so no write and no fence
        Assert.True(rig.Backend.TryLoad(rig.D0, 1, boot)); // unknown hart: full load, then the fence
        Assert.Equal(MonitorActionKind.Fence, boot[boot.Count - 1].Kind);
        Assert.Equal(4, boot.Count); // pmpaddr0 (the 128 MiB NAPOT), pmpcfg0, pmpcfg2, sfence.vma
        Assert.Equal(0x3B0, boot[0].Register);
        Assert.Equal(0x2000_0000UL | ((0x800_0000UL >> 3) - 1), boot[0].Value);
        Assert.Equal(0b10UL, boot[0].CoreMap);

        // Granting a page to d1 carves it out of d0, which runs on core 0: d0's image changes on core 0 only.
        EngineRig.Ok(rig.Monitor.TryGrant(rig.D0, rig.Root, new AccessRights(0x8000_0000, 0x8000_1000, RW), rig.M1, out _, out _));
        MonitorAction[] actions = rig.Monitor.Actions.AsSpan().ToArray();
        MonitorAction[] loads = [.. actions.Where(a => a.Kind == MonitorActionKind.LoadCsr && a.Domain == rig.D0)];
        Assert.NotEmpty(loads);
        Assert.All(loads, a => Assert.Equal(1UL, a.CoreMap));
        Assert.Contains(actions, a => a.Kind == MonitorActionKind.Fence && a.Fence == FenceKind.SfenceVma && a.CoreMap == 1UL && a.Domain == rig.D0);
        Assert.True(Array.FindLastIndex(actions, a => a.Kind == MonitorActionKind.LoadCsr && a.Domain == rig.D0)
            < Array.FindIndex(actions, a => a.Kind == MonitorActionKind.Fence && a.Domain == rig.D0));
        rig.AssertImageMatchesEngine(rig.D0, rig.Backend.GetCoreShadow(0));

        // Exactly what GetSwitchWrites computes from the old image: the fewest writes.
        Assert.True(loads.Length <= rig.Backend.Compiler.MaxSwitchWrites);
        Assert.All(loads, a => Assert.InRange(a.Register, 0x3A0, 0x3EF));
    }

    [Fact]
    public void A_switch_loads_the_target_image_on_that_core()
    {
        var rig = new EngineRig();
        EngineRig.Ok(rig.Share(0x8040_0000, 0x8040_3000, RX, out _));
        foreach ((ConfigurationBitmap bitmap, ulong value) in new[] { (ConfigurationBitmap.Permission, 0UL), (ConfigurationBitmap.Core, 0b11UL), (ConfigurationBitmap.Trap, 0UL) })
        {
            rig.Monitor.Begin();
            EngineRig.Ok(rig.Monitor.Complete(rig.Engine.TrySetChildConfiguration(rig.D0, rig.M1, bitmap, value)));
        }

        rig.Monitor.Begin();
        CapabilityError sealResult = rig.Engine.TrySeal(rig.D0, 0, rig.M1, out LocalCapability switchCap);
        EngineRig.Ok(rig.Monitor.Complete(sealResult));
        EngineRig.Ok(rig.Monitor.TrySwitch(rig.D0, 0, switchCap));
        MonitorAction[] actions = rig.Monitor.Actions.AsSpan().ToArray();
        Assert.Contains(actions, a => a.Kind == MonitorActionKind.LoadCsr && a.Domain == rig.D1 && a.CoreMap == 0b01);
        Assert.Contains(actions, a => a.Kind == MonitorActionKind.Fence && a.CoreMap == 0b01);
        Assert.DoesNotContain(actions, a => a.CoreMap == 0b10);
        rig.AssertImageMatchesEngine(rig.D1, rig.Backend.GetCoreShadow(0));
    }

    [Fact]
    public void When_another_backend_refuses_the_pmp_images_and_shadows_roll_back_byte_for_byte()
    {
        var refuser = new RefusingBackend();
        var rig = new EngineRig(extra: refuser);
        Assert.True(rig.Backend.TryLoad(rig.D0, 0, new MonitorActionList()));
        EngineRig.Ok(rig.Share(0x8000_0000, 0x8000_1000, RX, out _));
        PmpImage d0 = rig.Backend.Compiler.CreateImage();
        PmpImage d1 = rig.Backend.Compiler.CreateImage();
        PmpImage core0 = rig.Backend.Compiler.CreateImage();
        rig.Image(rig.D0).CopyTo(d0);
        rig.Image(rig.D1).CopyTo(d1);
        rig.Backend.GetCoreShadow(0).CopyTo(core0);

        refuser.Refuse = true;
        Assert.Equal(CapabilityError.RejectedByBackend, rig.Monitor.TryGrant(rig.D0, rig.Root, new AccessRights(0x8000_2000, 0x8000_5000, RW), rig.M1, out _, out _));
        Assert.Equal("refuser", rig.Monitor.LastRefusal.Backend);
        Assert.True(rig.Image(rig.D0).ContentEquals(d0));
        Assert.True(rig.Image(rig.D1).ContentEquals(d1));
        Assert.True(rig.Backend.GetCoreShadow(0).ContentEquals(core0));

        refuser.Refuse = false;
        EngineRig.Ok(rig.Monitor.TryGrant(rig.D0, rig.Root, new AccessRights(0x8000_2000, 0x8000_5000, RW), rig.M1, out _, out _));
        rig.AssertImageMatchesEngine(rig.D1);
        rig.AssertImageMatchesEngine(rig.D0, rig.Backend.GetCoreShadow(0));
    }

    [Fact]
    public void Revoking_a_domain_drops_its_image()
    {
        var rig = new EngineRig();
        EngineRig.Ok(rig.Share(0x8000_0000, 0x8000_1000, RX, out _));
        Assert.True(rig.Backend.TryGetImage(rig.D1, out _));
        EngineRig.Ok(rig.Monitor.TryRevoke(rig.D0, rig.M1));
        Assert.False(rig.Backend.TryGetImage(rig.D1, out _));
        Assert.Equal(16, rig.Backend.Limits.MaxEntriesPerDomain);
        Assert.Equal(4UL, rig.Backend.Limits.Granularity);
    }

    [Fact]
    public void A_switch_to_a_domain_the_backend_never_compiled_compiles_it_and_an_unknown_hart_is_refused()
    {
        var rig = new EngineRig();
        EngineRig.Ok(rig.Share(0x8040_0000, 0x8040_1000, RX, out _));
        var fresh = new PmpBackend(new PmpHartOptions(), coreCount: 2); // attached late: knows no domain
        var actions = new MonitorActionList();
        var view = new CapabilityEngineView(rig.Engine);
        Update[] sw = [new Update(UpdateKind.Switch, rig.D1, core: 1)];
        Assert.True(fresh.TryAdmit(view, sw, out _));
        Assert.True(fresh.TryApply(view, sw, actions, out _));
        fresh.Commit();
        Assert.True(fresh.TryGetImage(rig.D1, out _));
        Assert.Contains(actions.AsSpan().ToArray(), a => a.Kind == MonitorActionKind.LoadCsr && a.CoreMap == 0b10);
        rig.AssertImageMatchesEngine(rig.D1, fresh.GetCoreShadow(1));

        Update[] far = [new Update(UpdateKind.Switch, rig.D1, core: 5)];
        Assert.False(fresh.TryAdmit(view, far, out BackendRefusal refusal));
        Assert.Equal(BackendRefusalReason.InconsistentState, refusal.Reason);
        Assert.Equal(6UL, refusal.Needed);
        Assert.Equal(2UL, refusal.Available);
        Update[] perm = [new Update(UpdateKind.PermissionUpdate, rig.D1, coreMap: 0b100)];
        Assert.False(fresh.TryAdmit(view, perm, out _));
    }

    private sealed class RefusingBackend : IIsolationBackend
    {
        public bool Refuse { get; set; }

        public string Name => "refuser";

        public HardwareLimits Limits { get; } = new() { PhysicalAddressBits = 56, GuestAddressBits = 56, Granularity = 4 };

        public bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal)
        {
            refusal = BackendRefusal.None;
            return true;
        }

        public bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal)
        {
            refusal = Refuse ? new BackendRefusal(Name, BackendRefusalReason.OutOfTableFrames, DomainHandle.Invalid, 0, 1, 0) : BackendRefusal.None;
            return !Refuse;
        }

        public void Commit()
        {
        }

        public void Rollback()
        {
        }
    }
}
