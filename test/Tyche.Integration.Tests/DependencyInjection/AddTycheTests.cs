// SPDX-License-Identifier: Apache-2.0
using System;
using System.Linq;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Tyche.Capabilities;

namespace Tyche.Integration.Tests.DependencyInjection;

/// <summary><c>AddTyche</c>: a real <see cref="ServiceProvider"/>, options validated on start, operations through what it resolves.</summary>
public sealed class AddTycheTests
{
    private static ServiceProvider Build(Action<IServiceCollection> configure)
    {
        ServiceCollection services = new();
        configure(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    [Fact]
    public void The_resolved_engine_has_the_configured_capacities_and_runs_operations()
    {
        using ServiceProvider provider = Build(s => s.AddTyche(o =>
        {
            o.Domains = 8;
            o.Cores = 4;
            o.Regions = 64;
        }));
        provider.GetRequiredService<IStartupValidator>().Validate();

        CapabilityEngine engine = provider.GetRequiredService<CapabilityEngine>();
        Assert.Same(engine, provider.GetRequiredService<CapabilityEngine>());
        Assert.Equal(8, engine.Capacities.Domains);
        Assert.Equal(4, engine.Capacities.Cores);
        Assert.Equal(64, engine.Capacities.Regions);
        Assert.Equal(EngineCapacities.Default.TrackerNodes, engine.Capacities.TrackerNodes);

        Assert.Equal(CapabilityError.Ok, engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle manager));
        Assert.Equal(CapabilityError.Ok, engine.TryCreateRootRegion(manager, new AccessRights(0, 0x10000, MemoryOperations.Rights), out LocalCapability root));
        Assert.Equal(CapabilityError.Ok, engine.TryCreateDomain(manager, out LocalCapability child));
        Assert.Equal(CapabilityError.Ok, engine.TryShare(manager, root, new AccessRights(0x1000, 0x2000, MemoryOperations.Read), child,
            out LocalCapability _, out LocalCapability _));
        Assert.Equal(2, engine.DomainCount);
        // The shared page is now referenced by both domains.
        Span<MemoryAccessor> accessors = stackalloc MemoryAccessor[4];
        Assert.Equal(CapabilityError.Ok, engine.TryGetAccessors(0x1000, accessors, out int count));
        Assert.Equal(2, count);
        // A core outside the configured four is rejected by the engine built from the options.
        Assert.Equal(CapabilityError.InvalidCore, engine.TryStartDomainOnCore(manager, 4));
    }

    [Fact]
    public void Bad_options_fail_validation_on_start_with_one_clear_message_per_value()
    {
        using ServiceProvider provider = Build(s => s.AddTyche(o =>
        {
            o.Cores = 65;
            o.Domains = 0;
        }));

        OptionsValidationException failure = Assert.Throws<OptionsValidationException>(
            () => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("TycheOptions.Cores is 65; it must be between 1 and 64", failure.Message, StringComparison.Ordinal);
        Assert.Contains("TycheOptions.Domains is 0; it must be at least 1", failure.Message, StringComparison.Ordinal);
        Assert.Equal(2, failure.Failures.Count());

        // Resolving the engine reports the same failure instead of building an engine from bad values.
        OptionsValidationException again = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<CapabilityEngine>());
        Assert.Equal(failure.Failures, again.Failures);
    }

    [Fact]
    public void A_registration_made_before_AddTyche_wins_and_calling_it_twice_registers_once()
    {
        CapabilityEngine mine = new(new EngineCapacities { Domains = 3 });
        ServiceCollection services = new();
        services.AddSingleton(mine);
        services.AddTyche().Services.AddTyche(o => o.Domains = 5);

        Assert.Single(services, d => d.ServiceType == typeof(CapabilityEngine));
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<TycheOptions>));
        using ServiceProvider provider = services.BuildServiceProvider();
        Assert.Same(mine, provider.GetRequiredService<CapabilityEngine>());
        // Both configuration delegates ran, in order.
        Assert.Equal(5, provider.GetRequiredService<IOptions<TycheOptions>>().Value.Domains);
    }

    [Fact]
    public void Null_arguments_are_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => ((IServiceCollection)null!).AddTyche());
        Assert.Throws<ArgumentNullException>(() => new ServiceCollection().AddTyche(null!));
    }
}
