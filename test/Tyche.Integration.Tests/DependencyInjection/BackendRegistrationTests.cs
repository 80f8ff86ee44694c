// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tyche.Attestation;
using Tyche.Attestation.Verification;
using Tyche.Backends.Abstractions;
using Tyche.Backends.Pmp;
using Tyche.Backends.VTx;
using Tyche.Capabilities;
using Tyche.Integration.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tyche.Integration.Tests.DependencyInjection;

/// <summary>
/// The backend and root-of-trust extensions: a real <see cref="ServiceProvider"/>, operations through the resolved Monitor facade,
/// hardware tables and cleanup through the resolved physical memory, attestation through the resolved facade, logs captured.
/// </summary>
public sealed class BackendRegistrationTests
{
    private readonly ITestOutputHelper _output;

    public BackendRegistrationTests(ITestOutputHelper output) => _output = output;

    private sealed class CapturingLogger : ILoggerProvider, ILogger
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }

    private static ServiceProvider Build(Action<IServiceCollection> configure)
    {
        ServiceCollection services = new();
        configure(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    private static void Memory(PhysicalMemoryOptions o)
    {
        o.FrameCount = 1024;
        o.TableAreaFirstFrame = 512;
        o.TableFrameCount = 512;
    }

    [Fact]
    public void The_vtx_stack_builds_tables_cleans_up_logs_the_lifecycle_and_attests()
    {
        CapturingLogger log = new();
        using ServiceProvider provider = Build(s => s
            .AddLogging(l => l.AddProvider(log))
            .AddTyche(o => o.Cores = 2)
            .AddInMemoryPhysicalMemory(Memory)
            .AddVtxBackend()
            .AddSoftwareRootOfTrustForTests());
        provider.GetRequiredService<IStartupValidator>().Validate();

        Monitor monitor = provider.GetRequiredService<Monitor>();
        PhysicalMemory memory = provider.GetRequiredService<PhysicalMemory>();
        VtxBackend vtx = provider.GetRequiredService<VtxBackend>();
        Assert.Same(provider.GetRequiredService<CapabilityEngine>(), monitor.Engine);
        Assert.Same(memory, provider.GetRequiredService<IFrameAllocator>());
        Assert.Same(memory, provider.GetRequiredService<IMemoryCleaner>());
        Assert.Contains(vtx, monitor.Backends);
        Assert.Equal(["vtx", "log"], monitor.Backends.Select(b => b.Name).Order(StringComparer.Ordinal).Reverse());

        Assert.Equal(CapabilityError.Ok, monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle os));
        Assert.Equal(CapabilityError.Ok, monitor.TryStartDomainOnCore(os, 0));
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateRootRegion(os, new AccessRights(0, 0x20_0000, MemoryOperations.Rights), out LocalCapability ram));
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateDomain(os, out LocalCapability child));
        Assert.Equal(CapabilityError.Ok, monitor.Engine.TryGetDomainHandle(os, child, out DomainHandle enclave));
        Assert.Equal(CapabilityError.Ok, monitor.TryGrant(os, ram, new AccessRights(0x1_0000, 0x2_0000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup),
            child, out LocalCapability revoke, out _));
        Assert.True(vtx.TryGetEptPointer(enclave, out ulong eptp));
        Assert.True(memory.IsTableAddress(eptp & ~0xFFFUL));
        Assert.True(memory.AllocatedFrameCount > 0);

        // Attestation through the resolved facade, verified by the real verifier.
        MonitorAttestation attestation = provider.GetRequiredService<MonitorAttestation>();
        Assert.False(attestation.RootOfTrust.IsTpm);
        byte[] image = RandomNumberGenerator.GetBytes(4096);
        attestation.Launch(image);
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(CapabilityError.Ok, attestation.TryAttest([enclave], nonce, out AttestationEvidence? evidence));
        Assert.Equal(CapabilityError.Ok, monitor.Engine.TryGetDomainInfo(enclave, out DomainInfo info));
        AttestationPolicy policy = new()
        {
            MonitorImageDigests = [SHA256.HashData(image)],
            Domains = [new DomainPolicy { Id = info.Id, Name = "enclave", ExclusiveMemory = true }],
        };
        VerificationResult result = AttestationVerifier.Verify(evidence!, attestation.RootOfTrust.TrustAnchors, nonce, policy);
        Assert.True(result.IsTrusted, result.ToString());

        // Revocation through the facade zeroes the granted range in the resolved physical memory.
        memory.Bytes.Slice(0x1_0000, 0x1_0000).Fill(0xAA);
        Assert.Equal(CapabilityError.Ok, monitor.TryRevoke(os, child));
        Assert.True(memory.Bytes.Slice(0x1_0000, 0x1_0000).IndexOfAnyExcept((byte)0) < 0);
        _ = revoke;

        string[] messages = [.. log.Messages];
        _output.WriteLine(string.Join('\n', messages));
        Assert.Contains("Tyche domain H(0, gen 0) created", messages);
        Assert.Contains("Tyche domain H(1, gen 0) created", messages);
        Assert.Contains("Tyche domain H(1, gen 0) revoked", messages);
        Assert.Contains(messages, m => m.StartsWith("Tyche domains H(1, gen 0) attested through SOFTWARE root of trust", StringComparison.Ordinal));
    }

    [Fact]
    public void A_refused_operation_logs_nothing()
    {
        CapturingLogger log = new();
        using ServiceProvider provider = Build(s => s.AddLogging(l => l.AddProvider(log)).AddTyche().AddInMemoryPhysicalMemory(Memory).AddVtxBackend());
        Monitor monitor = provider.GetRequiredService<Monitor>();
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle os));
        int before = log.Messages.Count;
        // Execute-only memory: the default VT-x options refuse it (no execute-only EPT support), so the engine rolls back.
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateRootRegion(os, new AccessRights(0, 0x1000, MemoryOperations.Read), out LocalCapability _));
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateDomain(os, out LocalCapability child));
        int afterCreate = log.Messages.Count;
        Assert.Equal(before + 1, afterCreate);
        Assert.NotEqual(CapabilityError.Ok, monitor.TryCreateRootRegion(os, new AccessRights(0x10_0000, 0x10_1000, MemoryOperations.Execute), out _));
        Assert.Equal(afterCreate, log.Messages.Count);
        _ = child;
    }

    [Fact]
    public void The_pmp_stack_compiles_images_through_the_monitor()
    {
        using ServiceProvider provider = Build(s => s.AddTyche(o => o.Cores = 2).AddPmpBackend(o => o.EntryCount = 8));
        provider.GetRequiredService<IStartupValidator>().Validate();
        Monitor monitor = provider.GetRequiredService<Monitor>();
        PmpBackend pmp = provider.GetRequiredService<PmpBackend>();
        Assert.Contains(pmp, monitor.Backends);
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle os));
        Assert.Equal(CapabilityError.Ok, monitor.TryCreateRootRegion(os, new AccessRights(0x8000_0000, 0x8040_0000, MemoryOperations.Rights), out _));
        Assert.True(pmp.TryGetImage(os, out PmpImage? image));
        Assert.Equal(8, image!.EntryCount);
        Assert.Equal(1, image.ActiveEntryCount);
    }

    [Fact]
    public void Bad_options_of_every_extension_fail_on_start_with_clear_messages()
    {
        using ServiceProvider provider = Build(s => s.AddTyche()
            .AddInMemoryPhysicalMemory(o =>
            {
                o.BaseAddress = 0x1234;
                o.FrameCount = 16;
                o.TableAreaFirstFrame = 8;
                o.TableFrameCount = 16;
            })
            .AddVtxBackend(new VtxBackendOptions { PhysicalAddressBits = 60 })
            .AddPmpBackend(o => o.EntryCount = 100)
            .AddTpmRootOfTrust(o => o.Pcr = 5));
        AggregateException all = Assert.Throws<AggregateException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        string message = string.Join("\n", all.InnerExceptions.Select(e => e.Message));
        _output.WriteLine(message);
        Assert.Contains("PhysicalMemoryOptions.BaseAddress is 0x0000000000001234; it must be 4 KiB aligned.", message, StringComparison.Ordinal);
        Assert.Contains("the table area (frames 8 to 23) must lie inside the 16 backed frames", message, StringComparison.Ordinal);
        Assert.Contains("VtxBackendOptions are invalid: MAXPHYADDR must be between 36 and 52.", message, StringComparison.Ordinal);
        Assert.Contains("PmpHartOptions are invalid:", message, StringComparison.Ordinal);
        Assert.Contains("TpmRootOfTrustOptions: set exactly one of Port", message, StringComparison.Ordinal);
        Assert.Contains("TpmRootOfTrustOptions.Pcr is 5; use PCR 16 or 23", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_vtx_backend_without_table_memory_says_what_to_register()
    {
        using ServiceProvider provider = Build(s => s.AddTyche().AddVtxBackend());
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<Monitor>());
        Assert.Contains("AddVtxBackend needs an ITableMemory", e.Message, StringComparison.Ordinal);
        Assert.Contains("AddInMemoryPhysicalMemory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Registering_twice_changes_nothing()
    {
        ServiceCollection services = new();
        services.AddTyche().AddInMemoryPhysicalMemory(Memory).AddVtxBackend().AddVtxBackend().AddPmpBackend().AddPmpBackend().AddMonitor();
        Assert.Equal(3, services.Count(d => d.ServiceType == typeof(IIsolationBackend)));
        Assert.Single(services, d => d.ServiceType == typeof(Monitor));
        Assert.Single(services, d => d.ServiceType == typeof(VtxBackend));
    }

    [Fact]
    public void The_tpm_root_of_trust_attests_through_swtpm()
    {
        if (!ExternalTool.Require("swtpm", _output))
        {
            return;
        }

        using SwtpmProcess swtpm = SwtpmProcess.Start();
        using ServiceProvider provider = Build(s => s.AddTyche().AddTpmRootOfTrust(o => o.Port = swtpm.Port));
        provider.GetRequiredService<IStartupValidator>().Validate();
        MonitorAttestation attestation = provider.GetRequiredService<MonitorAttestation>();
        Assert.True(attestation.RootOfTrust.IsTpm);
        Assert.StartsWith("TPM 2.0 at 127.0.0.1:", attestation.RootOfTrust.Description, StringComparison.Ordinal);
        CapabilityEngine engine = provider.GetRequiredService<CapabilityEngine>();
        Assert.Equal(CapabilityError.Ok, engine.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle os));
        byte[] image = RandomNumberGenerator.GetBytes(1024);
        attestation.Launch(image);
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(CapabilityError.Ok, attestation.TryAttest([os], nonce, out AttestationEvidence? evidence));
        AttestationPolicy policy = new() { MonitorImageDigests = [SHA256.HashData(image)] };
        VerificationResult result = AttestationVerifier.Verify(evidence!, attestation.RootOfTrust.TrustAnchors, nonce, policy);
        Assert.True(result.IsTrusted, result.ToString());
        // A different monitor image is not a reference value.
        VerificationResult other = AttestationVerifier.Verify(evidence!, attestation.RootOfTrust.TrustAnchors, nonce,
            new AttestationPolicy { MonitorImageDigests = [SHA256.HashData(RandomNumberGenerator.GetBytes(16))] });
        Assert.True(other.HasFailed(VerificationCheck.MonitorDigest));
    }
}
