// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx;

/// <summary>Registers the Intel VT-x backend (EPT and VT-d) on an <see cref="ITycheBuilder"/>.</summary>
public static class VtxServiceCollectionExtensions
{
    /// <summary>Registers the VT-x backend with the default hardware description (see <see cref="VtxBackendOptions"/>).</summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static ITycheBuilder AddVtxBackend(this ITycheBuilder builder) => builder.AddVtxBackend(new VtxBackendOptions());

    /// <summary>
    /// Registers <see cref="VtxBackend"/> (singleton, also as an <see cref="IIsolationBackend"/> of the <see cref="Monitor"/> facade,
    /// which this registers too). The options are validated on start. The backend needs an <see cref="ITableMemory"/> and an
    /// <see cref="IFrameAllocator"/>: <c>AddInMemoryPhysicalMemory</c>, or the monitor's own registrations. Calling it again changes nothing.
    /// </summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <param name="options">The hardware description (MAXPHYADDR, page sizes, VT-d capabilities, …).</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static ITycheBuilder AddVtxBackend(this ITycheBuilder builder, VtxBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        IServiceCollection services = builder.Services;
        services.AddOptions<VtxBackendOptions>().ValidateOnStart();
        // VtxBackendOptions is immutable (init-only): the factory hands out the caller's instance and still runs the validators.
        services.TryAddSingleton<IOptionsFactory<VtxBackendOptions>>(provider => new FixedOptionsFactory(options,
            provider.GetServices<IConfigureOptions<VtxBackendOptions>>(), provider.GetServices<IPostConfigureOptions<VtxBackendOptions>>(),
            provider.GetServices<IValidateOptions<VtxBackendOptions>>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<VtxBackendOptions>, VtxBackendOptionsValidator>());
        services.TryAddSingleton(static provider => new VtxBackend(
            provider.GetService<ITableMemory>() ?? throw MissingMemory(nameof(ITableMemory)),
            provider.GetService<IFrameAllocator>() ?? throw MissingMemory(nameof(IFrameAllocator)),
            provider.GetRequiredService<IOptions<VtxBackendOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IIsolationBackend, VtxBackend>(static provider => provider.GetRequiredService<VtxBackend>()));
        return builder.AddMonitor();
    }

    private static InvalidOperationException MissingMemory(string service) => new(
        $"AddVtxBackend needs an {service} for its EPT and VT-d tables: call AddInMemoryPhysicalMemory(…) on the Tyche builder, or register the monitor's own ITableMemory and IFrameAllocator.");

    private sealed class FixedOptionsFactory(VtxBackendOptions options, IEnumerable<IConfigureOptions<VtxBackendOptions>> setups,
        IEnumerable<IPostConfigureOptions<VtxBackendOptions>> postConfigures, IEnumerable<IValidateOptions<VtxBackendOptions>> validations)
        : OptionsFactory<VtxBackendOptions>(setups, postConfigures, validations)
    {
        protected override VtxBackendOptions CreateInstance(string name) => options;
    }
}

/// <summary>Validates <see cref="VtxBackendOptions"/> with the backend's own rules, as a clear start-up failure.</summary>
internal sealed class VtxBackendOptionsValidator : IValidateOptions<VtxBackendOptions>
{
    public ValidateOptionsResult Validate(string? name, VtxBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail($"VtxBackendOptions are invalid: {e.Message}");
        }
    }
}
