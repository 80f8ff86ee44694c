// SPDX-License-Identifier: Apache-2.0
using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>Registers the <see cref="Monitor"/> facade and the in-memory <see cref="PhysicalMemory"/> on an <see cref="ITycheBuilder"/>.</summary>
public static class MonitorServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <see cref="Monitor"/> facade (singleton) over the engine, every registered <see cref="IIsolationBackend"/> and the
    /// registered <see cref="IMemoryCleaner"/> if any, plus a lifecycle log (domain created/revoked, through
    /// <c>Microsoft.Extensions.Logging</c>, at commit only). Backend extensions such as <c>AddVtxBackend</c> call it; calling it again
    /// changes nothing.
    /// </summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static ITycheBuilder AddMonitor(this ITycheBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        IServiceCollection services = builder.Services;
        // Logging is optional: without an ILoggerFactory registered (AddLogging), the log is a no-op.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IIsolationBackend, MonitorEventLog>(static provider => new MonitorEventLog(
            (provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Tyche.Monitor"),
            provider.GetRequiredService<CapabilityEngine>().Capacities.PendingUpdates)));
        services.TryAddSingleton(static provider => new Monitor(
            provider.GetRequiredService<CapabilityEngine>(),
            provider.GetServices<IIsolationBackend>(),
            provider.GetService<IMemoryCleaner>()));
        return builder;
    }

    /// <summary>
    /// Registers an in-memory <see cref="PhysicalMemory"/> (validated <see cref="PhysicalMemoryOptions"/>) as the
    /// <see cref="IFrameAllocator"/>, <see cref="ITableMemory"/> and <see cref="IMemoryCleaner"/> the monitor and backends use — for tests,
    /// samples and harnesses; a real monitor registers its own implementations of those three interfaces instead.
    /// </summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <param name="configure">Configures the layout.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static ITycheBuilder AddInMemoryPhysicalMemory(this ITycheBuilder builder, Action<PhysicalMemoryOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        IServiceCollection services = builder.Services;
        services.AddOptions<PhysicalMemoryOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PhysicalMemoryOptions>, PhysicalMemoryOptionsValidator>());
        services.TryAddSingleton(static provider =>
        {
            PhysicalMemoryOptions o = provider.GetRequiredService<IOptions<PhysicalMemoryOptions>>().Value;
            return new PhysicalMemory(o.BaseAddress, o.FrameCount, o.TableAreaFirstFrame, o.TableFrameCount);
        });
        services.TryAddSingleton<IFrameAllocator>(static provider => provider.GetRequiredService<PhysicalMemory>());
        services.TryAddSingleton<ITableMemory>(static provider => provider.GetRequiredService<PhysicalMemory>());
        services.TryAddSingleton<IMemoryCleaner>(static provider => provider.GetRequiredService<PhysicalMemory>());
        return builder;
    }
}
