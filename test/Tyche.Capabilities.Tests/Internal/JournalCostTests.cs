// SPDX-License-Identifier: Apache-2.0
using Tyche.Capabilities;
using static Tyche.Capabilities.Tests.Engine.Kit;

namespace Tyche.Capabilities.Tests.Internal;

/// <summary>The work of an alias/carve + revoke grows with the treap depth, not with the number of regions (counted in journaled slots).</summary>
public sealed class JournalCostTests
{
    private static int SlotsTouched(int k, bool carve)
    {
        const ulong Page = 0x1000;
        CapabilityEngine e = new(new EngineCapacities { Regions = 4096, TrackerNodes = 8192, CapabilitiesPerDomain = 1200 });
        DomainHandle d0 = e.CreateManagerDomain(DomainPermissions.All);
        ulong size = (ulong)(4 * (k + 2)) * Page;
        LocalCapability root = e.CreateRootRegion(d0, A(0, size));
        for (int i = 0; i < k; i++)
        {
            ulong s = (ulong)((4 * i) + 1) * Page;
            e.Alias(d0, root, A(s, s + Page, MemoryOperations.Read));
        }

        ulong middle = (ulong)((4 * (k / 2)) + 3) * Page;
        e.BeginTransaction();
        LocalCapability c = carve
            ? e.Carve(d0, root, A(middle, middle + Page, MemoryOperations.Read))
            : e.Alias(d0, root, A(middle, middle + Page, MemoryOperations.Read | MemoryOperations.Write));
        e.Revoke(d0, c);
        int touched = e.JournalSavedSlots;
        e.RollbackTransaction();
        e.AssertInvariants();
        return touched;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AliasAndCarveTouchLogarithmicallyManySlots(bool carve)
    {
        int small = SlotsTouched(10, carve);
        int large = SlotsTouched(1000, carve);
        Assert.True(large <= small + 40, $"K=10 touched {small} slots, K=1000 touched {large}");
        Assert.True(large < 120, $"K=1000 touched {large} slots");
    }
}
