// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>
/// Random engine histories (share, grant, revoke through the Monitor facade with the PMP backend); at every step the
/// backend's image of the child and the hart shadow of the running manager (built only from the emitted LoadCsr
/// writes) are programmed into QEMU and every probe is compared with <c>CapabilityEngine.TryGetPermissions</c>.
/// </summary>
public sealed class QemuEngineHistoryTests(ITestOutputHelper output)
{
    private static readonly PmpMonitorRegion[] Monitor =
    [
        new(0x807c_0000, 0x807c_3000, PmpConfigBits.Read | PmpConfigBits.Execute),
        new(0x807f_0000, 0x8080_0000, PmpConfigBits.None),
    ];

    [Fact]
    public void Engine_histories_on_the_hart_match_the_engine_rights()
    {
        if (!QemuHarness.TryGetTools(PmpXlen.Rv64, output, out string gcc, out string qemu))
        {
            return;
        }

        string? env = Environment.GetEnvironmentVariable("TYCHE_PMP_SEED");
        int seed = (env is not null ? int.Parse(env, CultureInfo.InvariantCulture) : Environment.TickCount & 0x7fffffff) + 17;
        output.WriteLine($"seed {seed} (replay with TYCHE_PMP_SEED={seed - 17})");
        var rng = new Random(seed);
        var rig = new EngineRig(monitorRegions: Monitor);
        EngineRig.Ok(rig.Share(QemuHarness.StubPage, QemuHarness.StubPage + 0x1000, MemoryOperations.Read | MemoryOperations.Execute, out _));

        var layouts = new List<Layout>();
        var images = new List<PmpImage>();
        var revokes = new List<LocalCapability>();
        int ok = 0, refused = 0, engineErrors = 0;
        MemoryOperations[] rights =
        [
            MemoryOperations.Read, MemoryOperations.Read | MemoryOperations.Write, MemoryOperations.Read | MemoryOperations.Execute,
            MemoryOperations.Rights, MemoryOperations.Read | MemoryOperations.Super, MemoryOperations.Execute,
        ];
        for (int step = 0; step < 45; step++)
        {
            CapabilityError result;
            int op = rng.Next(8);
            if (op < 5 || revokes.Count == 0)
            {
                ulong start = QemuHarness.ArenaStart + ((ulong)rng.Next(0, 0x40000) * 4);
                ulong size = rng.Next(2) == 0 ? 1UL << rng.Next(2, 16) : (ulong)rng.Next(1, 0x1000) * 4;
                if (rng.Next(2) == 0)
                {
                    start &= ~(size - 1);
                }

                ulong end = Math.Min(start + size, QemuHarness.ArenaEnd);
                var access = new AccessRights(start, end, rights[rng.Next(rights.Length)]);
                LocalCapability revoke;
                result = op < 3
                    ? rig.Monitor.TryShare(rig.D0, rig.Root, access, rig.M1, out revoke, out _)
                    : rig.Monitor.TryGrant(rig.D0, rig.Root, access, rig.M1, out revoke, out _);
                if (result == CapabilityError.Ok)
                {
                    revokes.Add(revoke);
                }
            }
            else
            {
                int i = rng.Next(revokes.Count);
                result = rig.Monitor.TryRevoke(rig.D0, revokes[i]);
                if (result == CapabilityError.Ok)
                {
                    revokes.RemoveAt(i);
                }
            }

            if (result == CapabilityError.RejectedByBackend)
            {
                Assert.Equal(Tyche.Backends.Abstractions.BackendRefusalReason.TooManyEntries, rig.Monitor.LastRefusal.Reason);
                Assert.True(rig.Monitor.LastRefusal.Needed > rig.Monitor.LastRefusal.Available);
                refused++;
            }
            else if (result != CapabilityError.Ok)
            {
                engineErrors++;
                continue;
            }
            else
            {
                ok++;
            }

            // The child's compiled image, and core 0 as the emitted CSR writes left it for the running manager.
            layouts.Add(new Layout($"step {step} d1", rig.Permissions(rig.D1)));
            images.Add(Copy(rig, rig.Image(rig.D1)));
            layouts.Add(new Layout($"step {step} d0 on core 0", rig.Permissions(rig.D0)));
            images.Add(Copy(rig, rig.Backend.GetCoreShadow(0)));
        }

        output.WriteLine($"{ok} operations applied, {refused} refused by PMP admission, {engineErrors} refused by the engine.");
        string elf = QemuHarness.Build(gcc, PmpXlen.Rv64);
        LayoutChecker.Stats stats = LayoutChecker.Check(rig.Backend.Compiler, Monitor, layouts, rng, qemu, elf, output, 40, images);
        Assert.True(ok > 10);
        Assert.True(stats.CompareWithEngine > stats.Probes / 2);
    }

    private static PmpImage Copy(EngineRig rig, PmpImage image)
    {
        PmpImage copy = rig.Backend.Compiler.CreateImage();
        image.CopyTo(copy);
        return copy;
    }
}
