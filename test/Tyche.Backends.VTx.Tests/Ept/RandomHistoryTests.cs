// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.Ept;

/// <summary>
/// Seeded random engine histories driven through the <see cref="Monitor"/>: after every operation the independent SDM walker over each
/// domain's EPT (and the VT-d walker over each device) must give exactly the engine's effective rights at every range boundary and at
/// random addresses; refused operations leave engine and table bytes unchanged; at the end no table frame has leaked.
/// Set <c>TYCHE_VTX_SEED</c> to replay one history.
/// </summary>
public sealed class RandomHistoryTests
{
    private const ulong KiB4 = 0x1000;
    private const ulong MiB2 = 0x20_0000;
    private const ulong GiB1 = 0x4000_0000;
    private const ulong RootEnd = 6 * GiB1;
    private const ulong ProbeLimit = 7 * GiB1;
    private static readonly DeviceId[] Devices = [new(0, 0, 2, 0), new(0, 0, 3, 1), new(0, 1, 0, 0), new(1, 4, 31, 7)];
    private static readonly MemoryOperations[] RightChoices =
    [
        MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Read | MemoryOperations.Execute,
        MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute, MemoryOperations.Super,
        MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Super, MemoryOperations.All,
    ];

    private static int s_faults;

    [Fact]
    public void WalkerEqualsEngineRightsOver500RandomHistories()
    {
        string? fixedSeed = Environment.GetEnvironmentVariable("TYCHE_VTX_SEED");
        int first = fixedSeed is null ? 20261122 : int.Parse(fixedSeed, CultureInfo.InvariantCulture);
        int count = fixedSeed is null ? 500 : 1;
        int refusals = 0;
        int largeLeaves = 0;
        int deviceTranslations = 0;
        for (int h = 0; h < count; h++)
        {
            int seed = first + h;
            try
            {
                (int r, int l, int dt) = RunHistory(seed);
                refusals += r;
                largeLeaves += l;
                deviceTranslations += dt;
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"History with seed {seed} failed (replay with TYCHE_VTX_SEED={seed}): {ex.Message}", ex);
            }
        }

        // The histories must actually exercise refusals and large pages, or the comparison proves little.
        Assert.True(refusals > 50, $"only {refusals} refused operations");
        Assert.True(largeLeaves > 100, $"only {largeLeaves} large leaves observed");
        Assert.True(deviceTranslations > 1000, $"only {deviceTranslations} device translations checked");
        Assert.True(s_faults > 200, $"only {s_faults} injected apply failures");
    }

    private static (int Refusals, int LargeLeaves, int DeviceTranslations) RunHistory(int seed)
    {
        var rnd = new Random(seed);
        var fault = new FaultBackend();
        var rig = new Rig(tableFrames: 512, extraBackends: [fault]);
        DomainHandle d0 = rig.Boot(RootEnd, out _);
        var children = new List<(DomainHandle D, LocalCapability M)>();
        var revokes = new List<LocalCapability>();
        int refusals = 0;
        int largeLeaves = 0;
        for (int step = 0; step < 24; step++)
        {
            int op = rnd.Next(100);
            CapabilityError result = CapabilityError.Ok;
            string what;

            // Sometimes the backend after VT-x fails in apply: the VT-x backend's tables must be rolled back byte for byte.
            bool inject = rnd.Next(100) < 15;
            string? engineBefore = inject ? rig.EngineSnapshot() : null;
            byte[]? tablesBefore = inject ? rig.Memory.TableAreaBytes.ToArray() : null;
            int freeBefore = rig.Memory.FreeFrameCount;
            fault.FailNextApply = inject;
            if (op < 12 || children.Count == 0)
            {
                what = "create child";
                if (children.Count < 5)
                {
                    result = rig.Monitor.TryCreateDomain(d0, out LocalCapability m);
                    if (result == CapabilityError.Ok)
                    {
                        Rig.Ok(rig.Engine.TryGetDomainHandle(d0, m, out DomainHandle child));
                        children.Add((child, m));
                    }
                }
            }
            else if (op < 45)
            {
                var (child, m) = children[rnd.Next(children.Count)];
                (LocalCapability region, CapabilityInfo info) = PickRegion(rig, d0, rnd);
                AccessRights access = PickRange(rnd, info, misaligned: false);
                bool grant = rnd.Next(3) == 0;
                what = $"{(grant ? "grant" : "share")} {access} to {child}";
                result = grant
                    ? rig.Monitor.TryGrant(d0, region, access, m, out LocalCapability rv, out _)
                    : rig.Monitor.TryShare(d0, region, access, m, out rv, out _);
                if (result == CapabilityError.Ok)
                {
                    revokes.Add(rv);
                }
            }
            else if (op < 55)
            {
                (LocalCapability region, CapabilityInfo info) = PickRegion(rig, d0, rnd);
                AccessRights access = PickRange(rnd, info, misaligned: false);
                bool carve = rnd.Next(2) == 0;
                what = $"{(carve ? "carve" : "alias")} {access}";
                result = carve ? rig.Monitor.TryCarve(d0, region, access, out _) : rig.Monitor.TryAlias(d0, region, access, out _);
            }
            else if (op < 70 && revokes.Count > 0)
            {
                int i = rnd.Next(revokes.Count);
                what = $"revoke {revokes[i]}";
                result = rig.Monitor.TryRevoke(d0, revokes[i]);
                revokes.RemoveAt(i);
            }
            else if (op < 75)
            {
                int i = rnd.Next(children.Count);
                what = $"revoke domain {children[i].D}";
                result = rig.Monitor.TryRevoke(d0, children[i].M);
                if (result == CapabilityError.Ok)
                {
                    children.RemoveAt(i);
                }
            }
            else if (op < 88)
            {
                DeviceId device = Devices[rnd.Next(Devices.Length)];
                what = $"device {device}";
                if (rig.Engine.TryGetDeviceOwner(device, out DomainHandle owner) != CapabilityError.Ok)
                {
                    what = $"create device {device}";
                    result = rig.Monitor.TryCreateRootDevice(d0, device, out _);
                }
                else if (owner == d0 && FindDevice(rig, d0, device) is LocalCapability cap)
                {
                    var (child, m) = children[rnd.Next(children.Count)];
                    what = $"send device {device} to {child}";
                    // Two engine calls in one monitor operation: both stand or neither does.
                    rig.Monitor.Begin();
                    CapabilityError first = rig.Engine.TryCreateRevokeCapability(d0, cap, out LocalCapability rv);
                    result = rig.Monitor.Complete(first != CapabilityError.Ok ? first : rig.Engine.TrySend(d0, cap, m, out _));
                    if (result == CapabilityError.Ok)
                    {
                        revokes.Add(rv);
                    }
                }
            }
            else
            {
                // An operation the engine accepts but EPT cannot express: sub-page bounds.
                var (child, m) = children[rnd.Next(children.Count)];
                (LocalCapability region, CapabilityInfo info) = PickRegion(rig, d0, rnd);
                AccessRights access = PickRange(rnd, info, misaligned: true);
                what = $"misaligned share {access}";
                string before = rig.EngineSnapshot();
                string tables = Convert.ToHexString(SHA256.HashData(rig.Memory.TableAreaBytes));
                int free = rig.Memory.FreeFrameCount;
                result = rig.Monitor.TryShare(d0, region, access, m, out _, out _);
                if (result == CapabilityError.RejectedByBackend && rig.Monitor.LastRefusal.Backend == "vtx")
                {
                    refusals++;
                    Assert.Equal(BackendRefusalReason.MisalignedRange, rig.Monitor.LastRefusal.Reason);
                    Assert.Equal(before, rig.EngineSnapshot());
                    Assert.Equal(tables, Convert.ToHexString(SHA256.HashData(rig.Memory.TableAreaBytes)));
                    Assert.Equal(free, rig.Memory.FreeFrameCount);
                }
            }

            fault.FailNextApply = false;
            if (result == CapabilityError.RejectedByBackend && rig.Monitor.LastRefusal.Backend == "fault")
            {
                refusals++;
                Assert.Equal(engineBefore, rig.EngineSnapshot());
                Assert.True(tablesBefore.AsSpan().SequenceEqual(rig.Memory.TableAreaBytes), $"step {step} {what}: tables not rolled back");
                Assert.Equal(freeBefore, rig.Memory.FreeFrameCount);
                continue;
            }

            Assert.True(result is CapabilityError.Ok or CapabilityError.RejectedByBackend or CapabilityError.InvalidOperation
                or CapabilityError.InvalidCapa or CapabilityError.CapabilityDoesNotExist or CapabilityError.OutOfMemory
                or CapabilityError.WrongCapabilityType, $"step {step} {what}: {result}");
            if (result == CapabilityError.RejectedByBackend && rig.Monitor.LastRefusal.Reason != BackendRefusalReason.MisalignedRange)
            {
                Assert.Fail($"step {step} {what}: unexpected refusal {rig.Monitor.LastRefusal}");
            }

            string context = $"step {step} ({what})";
            for (int i = children.Count - 1; i >= 0; i--)
            {
                if (!rig.Engine.IsLive(children[i].D))
                {
                    Assert.False(rig.Backend.TryGetEptPointer(children[i].D, out _), $"{context}: dead {children[i].D} still has an EPT");
                    children.RemoveAt(i);
                }
            }

            if (children.Count == 0)
            {
                children.Add(rig.Child(d0));
            }

            rig.CheckDomain(d0, rnd, 6, ProbeLimit, context);
            foreach (var (child, _) in children)
            {
                rig.CheckDomain(child, rnd, 6, ProbeLimit, context);
            }

            foreach (DeviceId device in Devices)
            {
                rig.CheckDevice(device, rnd, 4, ProbeLimit, context);
            }
        }

        largeLeaves += CountLargeLeaves(rig, d0);
        var live = new List<DomainHandle> { d0 };
        foreach (var (child, _) in children)
        {
            live.Add(child);
        }

        Assert.Equal(rig.Memory.AllocatedFrameCount, rig.CountReachableFrames(live, [0, 1]));
        s_faults += fault.Faults;
        return (refusals, largeLeaves, rig.DeviceTranslations);
    }

    private static LocalCapability? FindDevice(Rig rig, DomainHandle d, DeviceId device)
    {
        int token = 0;
        while (rig.Engine.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            if (info.Kind == CapabilityKind.Device && info.Device == device)
            {
                return index;
            }
        }

        return null;
    }

    private static int CountLargeLeaves(Rig rig, DomainHandle d)
    {
        int n = 0;
        foreach (MemoryPermission p in rig.Permissions(d))
        {
            Walkers.Translation t = rig.WalkEpt(d, p.Start);
            n += t.PageSize > KiB4 ? 1 : 0;
        }

        return n;
    }

    private static (LocalCapability Region, CapabilityInfo Info) PickRegion(Rig rig, DomainHandle d, Random rnd)
    {
        var regions = new List<(LocalCapability, CapabilityInfo)>();
        int token = 0;
        while (rig.Engine.TryEnumerate(d, ref token, out LocalCapability index, out CapabilityInfo info))
        {
            if (info.Kind == CapabilityKind.Region && info.End > info.Start)
            {
                regions.Add((index, info));
            }
        }

        return regions[rnd.Next(regions.Count)];
    }

    private static AccessRights PickRange(Random rnd, CapabilityInfo parent, bool misaligned)
    {
        ulong granule = rnd.Next(10) switch { < 6 => KiB4, < 9 => MiB2, _ => GiB1 };
        ulong start = (parent.Start + granule - 1) / granule * granule;
        if (start >= parent.End || parent.End - start < granule)
        {
            granule = KiB4;
            start = parent.Start;
        }

        ulong slots = (parent.End - start) / granule;
        ulong offset = (ulong)rnd.NextInt64((long)Math.Max(1, slots)) * granule;
        start += offset;
        ulong length = (ulong)(1 + rnd.Next((int)Math.Min(8, Math.Max(1, (parent.End - start) / granule)))) * granule;
        ulong end = Math.Min(parent.End, start + length);
        if (misaligned)
        {
            end = Math.Max(start + 0x10, end - 0x800);
        }

        MemoryOperations rights = parent.Operations & MemoryOperations.Rights;
        for (int attempt = 0; attempt < 20; attempt++)
        {
            MemoryOperations candidate = RightChoices[rnd.Next(RightChoices.Length)];
            if ((candidate & ~(parent.Operations & MemoryOperations.All)) == 0)
            {
                rights = candidate;
                break;
            }
        }

        return new AccessRights(start, end, rights);
    }
}
