// SPDX-License-Identifier: Apache-2.0
using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Tyche.Capabilities;

/// <summary>Registers the Tyche capability engine in a service collection.</summary>
public static class TycheServiceCollectionExtensions
{
    /// <summary>Registers the capability engine with default capacities.</summary>
    /// <param name="services">The service collection.</param>
    /// <returns>A builder the backend and attestation packages extend (<c>AddVtxBackend</c>, <c>AddTpmRootOfTrust</c>, …).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    public static ITycheBuilder AddTyche(this IServiceCollection services) => services.AddTyche(static _ => { });

    /// <summary>
    /// Registers the capability engine: <see cref="TycheOptions"/> (validated on start), and one <see cref="CapabilityEngine"/>
    /// singleton sized from them. Calling it again only adds the configuration delegate; registrations made before it win.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the engine's capacities.</param>
    /// <returns>A builder the backend and attestation packages extend (<c>AddVtxBackend</c>, <c>AddTpmRootOfTrust</c>, …).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    public static ITycheBuilder AddTyche(this IServiceCollection services, Action<TycheOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<TycheOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TycheOptions>, TycheOptionsValidator>());
        services.TryAddSingleton(static provider =>
            new CapabilityEngine(provider.GetRequiredService<IOptions<TycheOptions>>().Value.ToCapacities()));
        return new TycheBuilder(services);
    }

    private sealed class TycheBuilder(IServiceCollection services) : ITycheBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
