// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.Pmp;

/// <summary>Registers the RISC-V PMP backend on an <see cref="ITycheBuilder"/>.</summary>
public static class PmpServiceCollectionExtensions
{
    /// <summary>Registers the PMP backend for a hart described by <paramref name="configure"/>, with no monitor entries.</summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <param name="configure">Describes the hart (XLEN, entry count, granularity, …); null for the defaults (RV64, 16 entries, G = 0).</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static ITycheBuilder AddPmpBackend(this ITycheBuilder builder, Action<PmpHartOptions>? configure = null) =>
        builder.AddPmpBackend(configure ?? (static _ => { }), []);

    /// <summary>
    /// Registers <see cref="PmpBackend"/> (singleton, also as an <see cref="IIsolationBackend"/> of the <see cref="Monitor"/> facade,
    /// which this registers too) for one hart description, one image per core of the engine. The hart options are validated on
    /// start. Calling it again changes nothing.
    /// </summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <param name="configure">Describes the hart.</param>
    /// <param name="monitorRegions">The monitor's own memory, protected by locked entries at the highest priority.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static ITycheBuilder AddPmpBackend(this ITycheBuilder builder, Action<PmpHartOptions> configure, IReadOnlyList<PmpMonitorRegion> monitorRegions)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(monitorRegions);
        PmpMonitorRegion[] regions = [.. monitorRegions];
        IServiceCollection services = builder.Services;
        services.AddOptions<PmpHartOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PmpHartOptions>, PmpHartOptionsValidator>());
        services.TryAddSingleton(provider => new PmpBackend(
            provider.GetRequiredService<IOptions<PmpHartOptions>>().Value, regions,
            provider.GetRequiredService<CapabilityEngine>().Capacities.Cores));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IIsolationBackend, PmpBackend>(static provider => provider.GetRequiredService<PmpBackend>()));
        return builder.AddMonitor();
    }
}

/// <summary>Validates <see cref="PmpHartOptions"/> with the compiler's own rules, as a clear start-up failure.</summary>
internal sealed class PmpHartOptionsValidator : IValidateOptions<PmpHartOptions>
{
    public ValidateOptionsResult Validate(string? name, PmpHartOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.TryValidate(out string? error) ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail($"PmpHartOptions are invalid: {error}");
    }
}
