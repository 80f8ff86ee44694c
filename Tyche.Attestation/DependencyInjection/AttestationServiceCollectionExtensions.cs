// SPDX-License-Identifier: Apache-2.0
using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tyche.Attestation.Reports;
using Tyche.Capabilities;

namespace Tyche.Attestation;

/// <summary>Registers a root of trust and the <see cref="MonitorAttestation"/> facade on an <see cref="ITycheBuilder"/>.</summary>
public static class AttestationServiceCollectionExtensions
{
    /// <summary>
    /// Uses a TPM 2.0 as the root of trust: swtpm over TCP (<c>o.Port = 2321</c>) or a Linux device (<c>o.DevicePath = "/dev/tpmrm0"</c>).
    /// The options are validated on start; the TPM is contacted when <see cref="IRootOfTrust"/> is first resolved. Registers
    /// <see cref="MonitorAttestation"/> too. A root of trust registered earlier wins.
    /// </summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <param name="configure">Says where the TPM is.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static ITycheBuilder AddTpmRootOfTrust(this ITycheBuilder builder, Action<TpmRootOfTrustOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<TpmRootOfTrustOptions>().Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TpmRootOfTrustOptions>, TpmRootOfTrustOptionsValidator>());
        builder.Services.TryAddSingleton<IRootOfTrust>(static provider =>
            new TpmRootOfTrust(provider.GetRequiredService<IOptions<TpmRootOfTrustOptions>>().Value));
        return builder.AddMonitorAttestation();
    }

    /// <summary>
    /// FOR TESTS ONLY: uses <see cref="SoftwareRootOfTrustForTests"/>, an in-process imitation of a TPM whose quotes anyone in the
    /// process could forge. Registers <see cref="MonitorAttestation"/> too. A root of trust registered earlier wins.
    /// </summary>
    /// <param name="builder">The Tyche builder.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    public static ITycheBuilder AddSoftwareRootOfTrustForTests(this ITycheBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<IRootOfTrust>(static _ => new SoftwareRootOfTrustForTests());
        return builder.AddMonitorAttestation();
    }

    private static ITycheBuilder AddMonitorAttestation(this ITycheBuilder builder)
    {
        builder.Services.TryAddSingleton(static provider => new MonitorAttestation(
            provider.GetRequiredService<CapabilityEngine>(),
            provider.GetRequiredService<IRootOfTrust>(),
            provider.GetService<IPhysicalMemoryReader>(),
            provider.GetService<ILogger<MonitorAttestation>>()));
        return builder;
    }
}
