// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>Device capabilities (SPEC §1 additions): one owner at a time, I8 "every device has exactly one owner".</summary>
public sealed class DeviceTests
{
    private static readonly DeviceId Gpu = new(0, 0, 2, 0);

    /// <summary>Without a revoke capability, revoking the root device capability has nowhere to send the device.</summary>
    [Fact]
    public void Revoking_the_root_device_capability_without_a_revoke_capability_is_refused()
    {
        var b = new Booted();
        Check.Ok(b.Engine.TryCreateRootDevice(b.D0, Gpu, out LocalCapability dev));
        b.Drain();
        Check.FailsAtomically(b.Engine, CapabilityError.InvalidOperation, () => b.Engine.TryRevoke(b.D0, dev));
    }

    /// <summary>
    /// Found by the randomized atomicity fuzzer (TYCHE_SEED=13764286170984995401): the owner of a root device creates a
    /// DeviceRevoke for it, then revokes the Device capability itself. The engine returns Ok, consumes its own
    /// DeviceRevoke, tombstones the Device capability and leaves the device with no capability at all:
    /// CheckInvariants reports DeviceOwnership (I8). Either outcome is acceptable — refused with nothing changed, or
    /// Ok with the device still held through exactly one Device capability — but never a device without one.
    /// </summary>
    [Fact]
    public void Revoking_ones_own_device_capability_with_ones_own_revoke_capability_keeps_the_device_held()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        Check.Ok(e.TryCreateRootDevice(b.D0, Gpu, out LocalCapability dev));
        Check.Ok(e.TryCreateRevokeCapability(b.D0, dev, out _));
        b.Drain();
        EngineState before = EngineState.Capture(e);
        CapabilityError result = e.TryRevoke(b.D0, dev);
        Check.NoViolations(e);
        if (result != CapabilityError.Ok)
        {
            Assert.Equal(before, EngineState.Capture(e));
        }

        Check.Ok(e.TryGetDeviceOwner(Gpu, out DomainHandle owner));
        Assert.Equal(b.D0, owner);
        int deviceCaps = 0;
        int token = 0;
        while (e.TryEnumerate(b.D0, ref token, out _, out CapabilityInfo info))
        {
            deviceCaps += info.Kind == CapabilityKind.Device && info.Device == Gpu ? 1 : 0;
        }

        Assert.Equal(1, deviceCaps);
    }

    [Fact]
    public void Sending_a_device_moves_its_single_owner_and_queues_a_DeviceUpdate()
    {
        var b = new Booted();
        CapabilityEngine e = b.Engine;
        LocalCapability m = b.Child(out DomainHandle child);
        Check.Ok(e.TryCreateRootDevice(b.D0, Gpu, out LocalCapability dev));
        Check.Ok(e.TryCreateRevokeCapability(b.D0, dev, out LocalCapability rv));
        b.Drain();
        Check.Ok(e.TrySend(b.D0, dev, m, out _));
        Check.Ok(e.TryGetDeviceOwner(Gpu, out DomainHandle owner));
        Assert.Equal(child, owner);
        Assert.True(e.TryPopUpdate(out Update u));
        Assert.Equal(new Update(UpdateKind.DeviceUpdate, child, device: Gpu), u);
        Assert.Equal(0, e.GetDevices(b.D0, new DeviceId[2]));
        Check.NoViolations(e);
        Check.Ok(e.TryRevoke(b.D0, rv)); // back to the sender
        Check.Ok(e.TryGetDeviceOwner(Gpu, out owner));
        Assert.Equal(b.D0, owner);
        Check.NoViolations(e);
    }
}
