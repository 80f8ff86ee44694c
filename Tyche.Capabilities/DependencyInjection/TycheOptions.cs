// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities;

/// <summary>
/// Options of the capability engine registered by
/// <see cref="TycheServiceCollectionExtensions.AddTyche(Microsoft.Extensions.DependencyInjection.IServiceCollection, System.Action{TycheOptions})"/>:
/// the pool sizes of <see cref="EngineCapacities"/>, settable so they can be bound from configuration. Validated when the
/// application starts (<c>ValidateOnStart</c>) and whenever the engine is first resolved.
/// </summary>
public sealed class TycheOptions
{
    /// <summary>Live domains, the manager included. Default 32; at least 1.</summary>
    public int Domains { get; set; } = EngineCapacities.Default.Domains;

    /// <summary>Capability slots per domain. Default 128; at least 1.</summary>
    public int CapabilitiesPerDomain { get; set; } = EngineCapacities.Default.CapabilitiesPerDomain;

    /// <summary>Region capability nodes. Default 1024; at least 1.</summary>
    public int Regions { get; set; } = EngineCapacities.Default.Regions;

    /// <summary>Permission-tracker range nodes shared by all domains. Default 1024; at least 1.</summary>
    public int TrackerNodes { get; set; } = EngineCapacities.Default.TrackerNodes;

    /// <summary>Pending updates in the queue. Default 128; at least 1.</summary>
    public int PendingUpdates { get; set; } = EngineCapacities.Default.PendingUpdates;

    /// <summary>Physical cores. Default 64; between 1 and 64 (core maps are 64-bit).</summary>
    public int Cores { get; set; } = EngineCapacities.Default.Cores;

    /// <summary>PCI functions the engine tracks. Default 256; 0 or more.</summary>
    public int Devices { get; set; } = EngineCapacities.Default.Devices;

    /// <summary>The engine capacities these options describe.</summary>
    /// <returns>A new <see cref="EngineCapacities"/>.</returns>
    public EngineCapacities ToCapacities() => new()
    {
        Domains = Domains,
        CapabilitiesPerDomain = CapabilitiesPerDomain,
        Regions = Regions,
        TrackerNodes = TrackerNodes,
        PendingUpdates = PendingUpdates,
        Cores = Cores,
        Devices = Devices,
    };
}
