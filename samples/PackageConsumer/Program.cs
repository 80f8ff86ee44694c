// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Tyche.Attestation;
using Tyche.Attestation.Verification;
using Tyche.Backends.Abstractions;
using Tyche.Backends.Pmp;
using Tyche.Backends.VTx;
using Tyche.Capabilities;

namespace PackageConsumer;

/// <summary>
/// Uses every Tyche package through its NuGet package, the way an application does: DI registration, the Monitor facade over
/// the VT-x and PMP backends, attestation and verification. Prints one line per fact and "consumer: ok" when all hold.
/// </summary>
internal static class Program
{
    private static readonly string[] s_packages =
    [
        "Tyche.Capabilities", "Tyche.Backends.Abstractions", "Tyche.Backends.VTx", "Tyche.Backends.Pmp", "Tyche.Attestation",
    ];

    private static int s_failures;

    private static int Main()
    {
        foreach (string name in s_packages)
        {
            Assembly assembly = Assembly.Load(name);
            string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"package {name} {version}"));
        }

        ServiceCollection services = new();
        services.AddTyche(o => o.Cores = 2)
            .AddInMemoryPhysicalMemory(o =>
            {
                o.FrameCount = 1024;
                o.TableAreaFirstFrame = 768;
                o.TableFrameCount = 256;
            })
            .AddVtxBackend()
            .AddPmpBackend(o => o.EntryCount = 16)
            .AddSoftwareRootOfTrustForTests();
        using ServiceProvider provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        provider.GetRequiredService<IStartupValidator>().Validate();
        Monitor monitor = provider.GetRequiredService<Monitor>();
        Console.WriteLine($"backends: {string.Join(", ", monitor.Backends.Select(b => b.Name).Order(StringComparer.Ordinal))}");

        Check(monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle os), "create the manager domain");
        Check(monitor.TryStartDomainOnCore(os, 0), "start it on core 0");
        Check(monitor.TryCreateRootRegion(os, new AccessRights(0, 0x20_0000, MemoryOperations.Rights), out LocalCapability ram), "give it 2 MiB");
        Check(monitor.TryCreateDomain(os, out LocalCapability child), "create a child domain");
        Check(monitor.Engine.TryGetDomainHandle(os, child, out DomainHandle enclave), "look up the child");
        Check(monitor.TryGrant(os, ram, new AccessRights(0x1_0000, 0x2_0000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup),
            child, out _, out _), "grant the child 64 KiB");
        Fact(provider.GetRequiredService<VtxBackend>().TryGetEptPointer(enclave, out ulong eptp), $"EPT pointer of the child: 0x{eptp:x}");
        Fact(provider.GetRequiredService<PmpBackend>().TryGetImage(enclave, out PmpImage? image) && image!.ActiveEntryCount == 1,
            "PMP image of the child: one entry");

        MonitorAttestation attestation = provider.GetRequiredService<MonitorAttestation>();
        byte[] monitorImage = RandomNumberGenerator.GetBytes(4096);
        attestation.Launch(monitorImage);
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        Check(attestation.TryAttest([enclave], nonce, out AttestationEvidence? evidence), "attest the child");
        Check(monitor.Engine.TryGetDomainInfo(enclave, out DomainInfo info), "read the child");
        AttestationPolicy policy = new()
        {
            MonitorImageDigests = [SHA256.HashData(monitorImage)],
            Domains = [new DomainPolicy { Id = info.Id, Name = "enclave", ExclusiveMemory = true }],
        };
        VerificationResult verdict = AttestationVerifier.Verify(evidence!, attestation.RootOfTrust.TrustAnchors, nonce, policy);
        Fact(verdict.IsTrusted, $"verifier: {verdict.Checks.Count} checks, {(verdict.IsTrusted ? "trusted" : "REJECTED")}");

        PhysicalMemory memory = provider.GetRequiredService<PhysicalMemory>();
        memory.Bytes.Slice(0x1_0000, 0x1_0000).Fill(0x5A);
        Check(monitor.TryRevoke(os, child), "revoke the child");
        Fact(memory.Bytes.Slice(0x1_0000, 0x1_0000).IndexOfAnyExcept((byte)0) < 0, "revoked memory is zero");

        Console.WriteLine(s_failures == 0 ? "consumer: ok" : "consumer: FAILED");
        return s_failures == 0 ? 0 : 1;
    }

    private static void Check(CapabilityError error, string what) => Fact(error == CapabilityError.Ok, $"{what}: {error}");

    private static void Fact(bool holds, string text)
    {
        Console.WriteLine($"{(holds ? "ok" : "FAILED")}: {text}");
        if (!holds)
        {
            s_failures++;
        }
    }
}
