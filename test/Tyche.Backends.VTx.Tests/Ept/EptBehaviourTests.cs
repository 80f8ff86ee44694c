// SPDX-License-Identifier: Apache-2.0
using System;
using System.Linq;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx.Tests.Walkers;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.Ept;

/// <summary>Encodings, page sizes, split/merge, the INVEPT rule, memory types and remapping, checked with the SDM walker.</summary>
public sealed class EptBehaviourTests
{
    private const ulong KiB4 = 0x1000;
    private const ulong MiB2 = 0x20_0000;
    private const ulong GiB1 = 0x4000_0000;
    private const MemoryOperations R = MemoryOperations.Read;
    private const MemoryOperations RW = MemoryOperations.Read | MemoryOperations.Write;
    private const MemoryOperations RWX = MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute;
    private static readonly DomainHandle D1 = new(1, 0);

    private static int Count(MonitorActionList actions, MonitorActionKind kind) => actions.CountOf(kind);

    private static MonitorAction[] Of(MonitorActionList actions, MonitorActionKind kind) => actions.AsSpan().ToArray().Where(a => a.Kind == kind).ToArray();

    [Fact]
    public void EptpIsRootWithWriteBackAndFourLevelWalk()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(GiB1, out _);
        Assert.True(rig.Backend.TryGetEptPointer(d0, out ulong eptp));
        Assert.Equal(0x1EUL, eptp & 0xFFF); // memory type WB (6) | (4 − 1) << 3, A/D off
        Assert.True(rig.Memory.IsTableAddress(eptp & ~0xFFFUL));

        var ad = new Rig(options: new VtxBackendOptions { AccessedDirtyFlags = true });
        DomainHandle a0 = ad.Boot(GiB1, out _);
        Assert.True(ad.Backend.TryGetEptPointer(a0, out eptp));
        Assert.Equal(0x5EUL, eptp & 0xFFF);
        Assert.Equal(WalkStatus.Ok, ad.WalkEpt(a0, 0x1234).Status);
    }

    [Fact]
    public void LargestPagesAllowedByAddressAndLengthAreUsed()
    {
        var rig = new Rig();
        // [4 KiB, 1 GiB + 2 MiB + 8 KiB): 4 KiB head, 2 MiB pages up to 1 GiB, a 1 GiB-aligned tail of one 2 MiB page then 4 KiB pages.
        DomainHandle d0 = rig.Boot(GiB1 + MiB2 + (2 * KiB4), out _, rootStart: KiB4);
        Assert.Equal(KiB4, rig.WalkEpt(d0, KiB4).PageSize);
        Assert.Equal(MiB2, rig.WalkEpt(d0, MiB2).PageSize);
        Assert.Equal(MiB2, rig.WalkEpt(d0, GiB1).PageSize);
        Assert.Equal(KiB4, rig.WalkEpt(d0, GiB1 + MiB2).PageSize);
        Assert.Equal(WalkStatus.NotPresent, rig.WalkEpt(d0, 0).Status);
        Assert.Equal(WalkStatus.NotPresent, rig.WalkEpt(d0, GiB1 + MiB2 + (2 * KiB4)).Status);

        var big = new Rig();
        DomainHandle b0 = big.Boot(64 * GiB1, out _);
        Assert.Equal(GiB1, big.WalkEpt(b0, 63 * GiB1).PageSize);
        Assert.Equal(2, big.Monitor.Actions.CountOf(MonitorActionKind.WriteTablePage)); // PML4 + PDPT
        Assert.Equal(2, big.Memory.AllocatedFrameCount);

        var no1G = new Rig(options: new VtxBackendOptions { Use1GiBPages = false });
        DomainHandle n0 = no1G.Boot(4 * GiB1, out _);
        Assert.Equal(MiB2, no1G.WalkEpt(n0, 3 * GiB1).PageSize);
    }

    [Fact]
    public void GuestAndHostMustBothBeAlignedForLargePages()
    {
        var rig = new Rig();
        var view = new FakeView();
        view.Domains[D1] = [new MemoryPermission(0x4000_0000, 0x4080_0000, RWX)];
        view.Apply(rig.Backend, FakeView.Create(D1), FakeView.Permission(D1, 0));
        Assert.True(rig.Backend.TryGetRemapper(D1, out GpaRemapper? remapper));
        Assert.Equal(CapabilityError.Ok, remapper.TryMapRange(0x4000_0000, 0x8000_1000, 0x80_0000, 1)); // guest offset 4 KiB: no large page fits
        MonitorActionList actions = view.Apply(rig.Backend, FakeView.Permission(D1, 0x1));
        Assert.True(rig.Backend.TryGetEptPointer(D1, out ulong eptp));
        Translation t = SdmEptWalker.Walk(rig.Read, eptp, 0x8000_1000 + MiB2, rig.PhysicalAddressBits);
        Assert.Equal(WalkStatus.Ok, t.Status);
        Assert.Equal(KiB4, t.PageSize);
        Assert.Equal(0x4000_0000 + MiB2, t.Hpa);
        Assert.Equal(WalkStatus.NotPresent, SdmEptWalker.Walk(rig.Read, eptp, 0x4000_0000, rig.PhysicalAddressBits).Status);
        Assert.Single(Of(actions, MonitorActionKind.Invept)); // the old identity mapping was removed
    }

    [Fact]
    public void RightsChangeInsideALargePageSplitsAndRestoringMerges()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(GiB1, out LocalCapability r0);
        Assert.Equal(GiB1, rig.WalkEpt(d0, 0).PageSize);
        Assert.Equal(2, rig.Memory.AllocatedFrameCount);

        Rig.Ok(rig.Monitor.TryCarve(d0, r0, new AccessRights(MiB2 + KiB4, MiB2 + (2 * KiB4), R), out LocalCapability carve));
        Translation t = rig.WalkEpt(d0, MiB2 + KiB4);
        Assert.True(t.Status == WalkStatus.Ok && t.Read && !t.Write && !t.Execute && t.PageSize == KiB4, t.ToString());
        Assert.Equal(MiB2, rig.WalkEpt(d0, 0).PageSize);
        Assert.Equal(KiB4, rig.WalkEpt(d0, MiB2).PageSize);
        Assert.Equal(4, rig.Memory.AllocatedFrameCount); // + PD + PT
        MonitorAction invept = Assert.Single(Of(rig.Monitor.Actions, MonitorActionKind.Invept));
        Assert.Equal(InveptType.SingleContext, invept.InveptType);
        Assert.Equal(0x1UL, invept.CoreMap); // d0 runs on core 0, and only there
        Assert.True(rig.Backend.TryGetEptPointer(d0, out ulong eptp));
        Assert.Equal(eptp, invept.Value);

        Rig.Ok(rig.Monitor.TryRevoke(d0, carve));
        Assert.Equal(GiB1, rig.WalkEpt(d0, MiB2 + KiB4).PageSize);
        Assert.Equal(2, rig.Memory.AllocatedFrameCount);
        Assert.Equal(2, Count(rig.Monitor.Actions, MonitorActionKind.ReleaseTablePage));
        // Merging changes bit 7 of the PDPTE, which the SDM lists as needing INVEPT; the release comes after it.
        MonitorAction[] all = rig.Monitor.Actions.AsSpan().ToArray();
        int inv = Array.FindIndex(all, a => a.Kind == MonitorActionKind.Invept);
        Assert.True(inv >= 0 && inv < Array.FindIndex(all, a => a.Kind == MonitorActionKind.ReleaseTablePage));
    }

    [Fact]
    public void InveptOnlyWhenRightsAreReducedAndOnExactlyTheCoreMap()
    {
        var rig = new Rig();
        var view = new FakeView();
        view.Domains[D1] = [new MemoryPermission(0, 4 * KiB4, RWX)];
        view.Apply(rig.Backend, FakeView.Create(D1), FakeView.Permission(D1, 0b1010));

        view.Domains[D1] = [new MemoryPermission(0, KiB4, RWX), new MemoryPermission(KiB4, 2 * KiB4, R), new MemoryPermission(2 * KiB4, 4 * KiB4, RWX)];
        MonitorActionList reduce = view.Apply(rig.Backend, FakeView.Permission(D1, 0b1010));
        MonitorAction invept = Assert.Single(Of(reduce, MonitorActionKind.Invept));
        Assert.Equal(0b1010UL, invept.CoreMap);
        Assert.Equal(1, Count(reduce, MonitorActionKind.WriteTablePage)); // one PT entry changed
        Assert.Equal("Invept(single-context, eptp 0x" + invept.Value.ToString("x", null) + ", cores 0xa)", invept.ToString());

        view.Domains[D1] = [new MemoryPermission(0, 4 * KiB4, RWX), new MemoryPermission(8 * KiB4, 9 * KiB4, R)];
        MonitorActionList grow = view.Apply(rig.Backend, FakeView.Permission(D1, 0b1010));
        Assert.Equal(0, Count(grow, MonitorActionKind.Invept)); // rights only grew, no page size changed (SDM §29.4.3.4)
        Assert.Equal(1, Count(grow, MonitorActionKind.WriteTablePage));

        view.Domains[D1] = [new MemoryPermission(0, 4 * KiB4, RWX)];
        MonitorActionList remove = view.Apply(rig.Backend, FakeView.Permission(D1, 0b0100));
        Assert.Equal(0b0100UL, Assert.Single(Of(remove, MonitorActionKind.Invept)).CoreMap);
    }

    [Fact]
    public void CoresThatRanTheDomainEarlierInvalidateOnTheirNextSwitch()
    {
        var rig = new Rig();
        var view = new FakeView();
        view.Domains[D1] = [new MemoryPermission(0, 4 * KiB4, RWX)];
        view.Apply(rig.Backend, FakeView.Create(D1), FakeView.Permission(D1, 0));
        MonitorActionList sw = view.Apply(rig.Backend, FakeView.Switch(D1, 2));
        Assert.True(rig.Backend.TryGetEptPointer(D1, out ulong eptp));
        Assert.Equal(MonitorAction.LoadEptp(D1, eptp, 0b100), Assert.Single(sw.AsSpan().ToArray()));

        view.Domains[D1] = [new MemoryPermission(0, 2 * KiB4, RWX)];
        MonitorActionList reduce = view.Apply(rig.Backend, FakeView.Permission(D1, 0b1)); // now running on core 0 only
        Assert.Equal(0b1UL, Assert.Single(Of(reduce, MonitorActionKind.Invept)).CoreMap);

        MonitorActionList back = view.Apply(rig.Backend, FakeView.Switch(D1, 2));
        Assert.Equal([MonitorAction.LoadEptp(D1, eptp, 0b100), MonitorAction.Invept(D1, InveptType.SingleContext, eptp, 0b100)], back.AsSpan().ToArray());
        MonitorActionList again = view.Apply(rig.Backend, FakeView.Switch(D1, 2));
        Assert.Equal(0, Count(again, MonitorActionKind.Invept));
    }

    [Fact]
    public void RevokingADomainInvalidatesEveryCoreThatRanItAndFreesAllFrames()
    {
        var rig = new Rig();
        var view = new FakeView();
        view.Domains[D1] = [new MemoryPermission(KiB4, GiB1 + KiB4, RWX)];
        view.Apply(rig.Backend, FakeView.Create(D1), FakeView.Permission(D1, 0b11), FakeView.Switch(D1, 5));
        int frames = rig.Memory.AllocatedFrameCount;
        Assert.True(frames > 3);
        view.Domains.Remove(D1);
        MonitorActionList revoke = view.Apply(rig.Backend, FakeView.Revoke(D1));
        Assert.Equal(0b100011UL, Assert.Single(Of(revoke, MonitorActionKind.Invept)).CoreMap);
        Assert.Equal(frames, Count(revoke, MonitorActionKind.ReleaseTablePage));
        Assert.Equal(0, rig.Memory.AllocatedFrameCount);
        Assert.All(rig.Memory.TableAreaBytes.ToArray(), b => Assert.Equal(0, b));
        Assert.False(rig.Backend.TryGetEptPointer(D1, out _));
    }

    [Fact]
    public void UncacheableRangesGetMemoryTypeUcWithIgnorePat()
    {
        var options = new VtxBackendOptions { UncacheableRanges = [new UncacheableRange(0xFEC0_0000, 0xFED0_0000)] };
        var rig = new Rig(options: options);
        DomainHandle d0 = rig.Boot(0xFF00_0000, out _, rootStart: 0xFE00_0000);
        Translation uc = rig.WalkEpt(d0, 0xFEC0_1000);
        Assert.True(uc.Status == WalkStatus.Ok && uc.MemoryType == 0 && uc.IgnorePat && uc.PageSize == KiB4, uc.ToString());
        Translation wb = rig.WalkEpt(d0, 0xFE00_0000);
        Assert.True(wb.MemoryType == 6 && !wb.IgnorePat && wb.PageSize == MiB2, wb.ToString());
        Assert.Equal(6, rig.WalkEpt(d0, 0xFED0_0000).MemoryType);
    }

    [Fact]
    public void ExecuteOnlyNeedsTheCapabilityAndSuperAloneIsNotMapped()
    {
        var view = new FakeView();
        view.Domains[D1] = [new MemoryPermission(0, KiB4, MemoryOperations.Execute), new MemoryPermission(KiB4, 2 * KiB4, MemoryOperations.Super)];
        var rig = new Rig();
        Assert.False(rig.Backend.TryAdmit(view, [FakeView.Create(D1), FakeView.Permission(D1, 0)], out BackendRefusal refusal));
        Assert.Equal(BackendRefusalReason.UnsupportedRights, refusal.Reason);
        Assert.Equal(0UL, refusal.Address);

        var xo = new Rig(options: new VtxBackendOptions { ExecuteOnly = true });
        view.Apply(xo.Backend, FakeView.Create(D1), FakeView.Permission(D1, 0));
        Assert.True(xo.Backend.TryGetEptPointer(D1, out ulong eptp));
        Translation t = SdmEptWalker.Walk(xo.Read, eptp, 0x10, xo.PhysicalAddressBits, executeOnlySupported: true);
        Assert.True(t.Status == WalkStatus.Ok && !t.Read && !t.Write && t.Execute, t.ToString());
        Assert.Equal(WalkStatus.Misconfigured, SdmEptWalker.Walk(xo.Read, eptp, 0x10, xo.PhysicalAddressBits, executeOnlySupported: false).Status);
        Assert.Equal(WalkStatus.NotPresent, SdmEptWalker.Walk(xo.Read, eptp, KiB4, xo.PhysicalAddressBits, true).Status);
    }

    [Fact]
    public void RemappedAndRepeatedGuestRanges()
    {
        var rig = new Rig();
        var view = new FakeView();
        view.Domains[D1] = [new MemoryPermission(0x1000_0000, 0x1000_4000, RW), new MemoryPermission(0x2000_0000, 0x2020_0000, RWX)];
        view.Apply(rig.Backend, FakeView.Create(D1), FakeView.Permission(D1, 0));
        Assert.True(rig.Backend.TryGetRemapper(D1, out GpaRemapper? remapper));
        Assert.Equal(CapabilityError.Ok, remapper.TryMapRange(0x1000_0000, 0x8000_0000, 0x4000, 2));
        Assert.Equal(CapabilityError.Ok, remapper.TryMapRange(0x2000_0000, 0x4000_0000, 0x20_0000, 1));
        view.Apply(rig.Backend, FakeView.Permission(D1, 0));
        Assert.True(rig.Backend.TryGetEptPointer(D1, out ulong eptp));
        Translation Walk(ulong gpa) => SdmEptWalker.Walk(rig.Read, eptp, gpa, rig.PhysicalAddressBits);
        Assert.Equal(0x1000_1000UL, Walk(0x8000_1000).Hpa);
        Assert.Equal(0x1000_1000UL, Walk(0x8000_5000).Hpa); // second repetition
        Assert.Equal(WalkStatus.NotPresent, Walk(0x8000_8000).Status);
        Assert.Equal(WalkStatus.NotPresent, Walk(0x1000_0000).Status); // covered by a segment: no identity mapping
        Translation big = Walk(0x4000_0000);
        Assert.True(big.Hpa == 0x2000_0000 && big.PageSize == MiB2 && big.Execute, big.ToString());

        // A segment whose guest range collides with another piece is refused, and nothing changes.
        Assert.Equal(CapabilityError.Ok, remapper.TryUnmapRange(0x2000_0000, 0x20_0000));
        Assert.Equal(CapabilityError.Ok, remapper.TryMapRange(0x1000_0000, 0x2000_0000, 0x4000, 1)); // onto the identity-mapped 0x2000_0000
        string before = Convert.ToHexString(rig.Memory.TableAreaBytes);
        Assert.False(rig.Backend.TryAdmit(view, [FakeView.Permission(D1, 0)], out BackendRefusal refusal));
        Assert.Equal(BackendRefusalReason.GuestAddressConflict, refusal.Reason);
        Assert.Equal(before, Convert.ToHexString(rig.Memory.TableAreaBytes));
    }

    [Fact]
    public void OneChangedRangeInAThousandWritesOnePage()
    {
        var rig = new Rig(tableFrames: 64);
        var view = new FakeView();
        var perms = new MemoryPermission[1000];
        for (int i = 0; i < perms.Length; i++)
        {
            ulong start = (ulong)i * 0x10000;
            perms[i] = new MemoryPermission(start, start + 0x4000, (i & 1) == 0 ? RW : R);
        }

        view.Domains[D1] = perms;
        view.Apply(rig.Backend, FakeView.Create(D1), FakeView.Permission(D1, 1));
        var changed = (MemoryPermission[])perms.Clone();
        changed[500] = changed[500] with { Operations = RWX };
        view.Domains[D1] = changed;
        MonitorActionList actions = view.Apply(rig.Backend, FakeView.Permission(D1, 1));
        Assert.Equal(1, Count(actions, MonitorActionKind.WriteTablePage));
        Assert.Equal(0, Count(actions, MonitorActionKind.Invept));
        view.Domains[D1] = perms;
        actions = view.Apply(rig.Backend, FakeView.Permission(D1, 1));
        Assert.Equal(1, Count(actions, MonitorActionKind.WriteTablePage));
        Assert.Equal(1, Count(actions, MonitorActionKind.Invept));
    }

    [Fact]
    public void TheWalkerDetectsCorruptedEntries()
    {
        var rig = new Rig();
        DomainHandle d0 = rig.Boot(4 * KiB4, out _);
        Assert.True(rig.Backend.TryGetEptPointer(d0, out ulong eptp));
        ulong pml4e = rig.Read(eptp & ~0xFFFUL);
        ulong pdpte = rig.Read(pml4e & ~0xFFFUL);
        ulong pde = rig.Read(pdpte & 0xF_FFFF_FFFF_F000);
        ulong pteAddress = pde & 0xF_FFFF_FFFF_F000;
        ulong pte = rig.Read(pteAddress);
        Assert.Equal(0x37UL, pte & 0xFFF); // R|W|X, memory type WB << 3, ignore-PAT clear
        Assert.Equal(WalkStatus.Ok, rig.WalkEpt(d0, 0).Status);

        rig.Memory.WriteEntry(pteAddress, pte & ~0x1UL); // W without R
        Assert.Equal(WalkStatus.Misconfigured, rig.WalkEpt(d0, 0).Status);
        rig.Memory.WriteEntry(pteAddress, (pte & ~0x38UL) | (2UL << 3)); // memory type 2 is reserved
        Assert.Equal(WalkStatus.Misconfigured, rig.WalkEpt(d0, 0).Status);
        rig.Memory.WriteEntry(pteAddress, pte | (1UL << 50)); // above MAXPHYADDR 46
        Assert.Equal(WalkStatus.Misconfigured, rig.WalkEpt(d0, 0).Status);
        rig.Memory.WriteEntry(pteAddress, pte & ~0x2UL);
        Assert.False(rig.WalkEpt(d0, 0).Write);
        rig.Memory.WriteEntry(pteAddress, pte);
        Assert.Equal(WalkStatus.Misconfigured, SdmEptWalker.Walk(rig.Read, eptp | 0x100, 0, rig.PhysicalAddressBits).Status);
    }
}
