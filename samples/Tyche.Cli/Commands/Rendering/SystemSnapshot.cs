// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Capabilities;

namespace Tyche.Cli.Rendering;

/// <summary>One capability held by a domain.</summary>
/// <param name="Index">Its local index in the holder's table.</param>
/// <param name="Info">What it designates.</param>
internal sealed record CapabilityView(int Index, CapabilityInfo Info);

/// <summary>One live domain as the engine reports it.</summary>
/// <param name="Handle">Its handle.</param>
/// <param name="Name">The script's or sample's name for it (or its handle text).</param>
/// <param name="Info">Its state.</param>
/// <param name="Capabilities">Its capability table.</param>
/// <param name="Devices">The PCI functions it owns.</param>
internal sealed record DomainView(DomainHandle Handle, string Name, DomainInfo Info, IReadOnlyList<CapabilityView> Capabilities,
    IReadOnlyList<DeviceId> Devices);

/// <summary>One segment of the system-wide memory map with the domains that can access it (Figure 4 of the HotOS paper).</summary>
/// <param name="Start">First byte.</param>
/// <param name="End">One past the last byte.</param>
/// <param name="ReferenceCount">Number of distinct domains with access.</param>
/// <param name="Accessors">Who, with which rights.</param>
internal sealed record MemorySegmentView(ulong Start, ulong End, int ReferenceCount, IReadOnlyList<(DomainHandle Domain, MemoryOperations Rights)> Accessors);

/// <summary>A read-only picture of the engine: domains, capabilities, devices, memory map. Built at the edge (allocates).</summary>
internal sealed class SystemSnapshot
{
    private SystemSnapshot(IReadOnlyList<DomainView> domains, IReadOnlyList<MemorySegmentView> memory)
    {
        Domains = domains;
        Memory = memory;
    }

    /// <summary>Live domains in slot order.</summary>
    public IReadOnlyList<DomainView> Domains { get; }

    /// <summary>The memory map in address order (segments nobody can access are not listed).</summary>
    public IReadOnlyList<MemorySegmentView> Memory { get; }

    /// <summary>The name of a domain in this snapshot (or its handle text).</summary>
    /// <param name="domain">The domain.</param>
    /// <returns>Its name.</returns>
    public string NameOf(DomainHandle domain)
    {
        foreach (DomainView view in Domains)
        {
            if (view.Handle == domain)
            {
                return view.Name;
            }
        }

        return domain.ToString();
    }

    /// <summary>Reads the engine.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="nameOf">Names domains.</param>
    /// <returns>The snapshot.</returns>
    /// <exception cref="TycheException">The engine reported an error while being read.</exception>
    public static SystemSnapshot Capture(CapabilityEngine engine, Func<DomainHandle, string> nameOf)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(nameOf);
        DomainHandle[] handles = new DomainHandle[engine.Capacities.Domains];
        int count = engine.GetDomains(handles);
        List<DomainView> domains = new(count);
        DeviceId[] deviceBuffer = new DeviceId[Math.Max(engine.Capacities.Devices, 1)];
        foreach (DomainHandle handle in handles.AsSpan(0, count))
        {
            Check(engine.TryGetDomainInfo(handle, out DomainInfo info));
            List<CapabilityView> capabilities = [];
            int token = 0;
            while (engine.TryEnumerate(handle, ref token, out LocalCapability index, out CapabilityInfo capability))
            {
                capabilities.Add(new CapabilityView(index.Index, capability));
            }

            int devices = engine.GetDevices(handle, deviceBuffer);
            domains.Add(new DomainView(handle, nameOf(handle), info, capabilities, deviceBuffer.AsSpan(0, Math.Max(devices, 0)).ToArray()));
        }

        MemoryMapSegment[] segments = new MemoryMapSegment[Math.Max(engine.GetMemoryMapLength(), 0)];
        Check(engine.TryGetMemoryMap(segments, out int written));
        List<MemorySegmentView> memory = new(written);
        MemoryAccessor[] accessors = new MemoryAccessor[engine.Capacities.Domains];
        foreach (MemoryMapSegment segment in segments.AsSpan(0, written))
        {
            Check(engine.TryGetAccessors(segment.Start, accessors, out int n));
            List<(DomainHandle, MemoryOperations)> who = new(n);
            foreach (MemoryAccessor accessor in accessors.AsSpan(0, n))
            {
                who.Add((accessor.Domain, accessor.Operations));
            }

            memory.Add(new MemorySegmentView(segment.Start, segment.End, segment.ReferenceCount, who));
        }

        return new SystemSnapshot(domains, memory);
    }

    private static void Check(CapabilityError error)
    {
        if (error != CapabilityError.Ok)
        {
            throw new TycheException(error, $"Reading the engine failed with {error}.");
        }
    }
}
