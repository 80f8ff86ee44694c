// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tyche.Attestation;
using Tyche.Attestation.Reports;
using Tyche.Attestation.Verification;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx;
using Tyche.Capabilities;
using Tyche.Cli;
using Tyche.Cli.Rendering;

namespace ConfidentialSaas;

/// <summary>
/// The HotOS'23 paper's confidential SaaS scenario (Figures 2–4) end to end: an OS manager domain gives a SaaS domain its
/// memory and the GPU (PCI 00:02.0); the SaaS domain creates a GPU I/O domain and a crypto-engine enclave, shares one buffer
/// with each, grants the enclave its code and key pages, seals both with measurements and switches into the enclave. A customer
/// attests the composition through a TPM 2.0 (swtpm), verifies it against its policy, provisions its key, and finally the
/// domains are revoked with zeroing. Runs on the VT-x backend (EPT + VT-d tables in in-memory physical memory) through the
/// Monitor facade, everything wired with Microsoft.Extensions.DependencyInjection.
/// </summary>
internal static class Program
{
    // Physical memory: 16 MiB backed by a byte array; the last 4 MiB hold the EPT/VT-d tables.
    private const ulong RamEnd = 0xC0_0000;
    private const int Frames = 4096;
    private const int TableFirstFrame = 3072;
    private const int TableFrames = 1024;
    private const int Core = 0;

    // Figure 3's layout inside the SaaS domain's memory.
    private static readonly AccessRights s_saasMemory = new(0x40_0000, 0x80_0000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Execute | MemoryOperations.Cleanup);
    private static readonly AccessRights s_gpuBuffer = new(0x60_0000, 0x70_0000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup);
    private static readonly AccessRights s_cryptoBuffer = new(0x70_0000, 0x71_0000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup);
    private static readonly AccessRights s_cryptoCode = new(0x78_0000, 0x78_1000, MemoryOperations.Read | MemoryOperations.Execute | MemoryOperations.Hash | MemoryOperations.Cleanup);
    private static readonly AccessRights s_cryptoKey = new(0x78_1000, 0x78_2000, MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup);

    private static int s_failures;

    private static int Main(string[] args)
    {
        bool forceSoftware = args.Contains("--software-root-of-trust");
        string? evidenceDirectory = null;
        int write = Array.IndexOf(args, "--write-evidence");
        if (write >= 0 && write + 1 < args.Length)
        {
            evidenceDirectory = args[write + 1];
        }

        Section("Tyche for .NET: the confidential SaaS scenario of the HotOS'23 paper (Figures 2-4)");
        Swtpm? swtpm = null;
        string rootNote;
        if (forceSoftware)
        {
            rootNote = "the software root of trust was requested (--software-root-of-trust)";
        }
        else if (!Swtpm.TryStart(out swtpm, out string why))
        {
            rootNote = why;
        }
        else
        {
            rootNote = "swtpm started on 127.0.0.1:" + swtpm!.Port.ToString(CultureInfo.InvariantCulture);
        }

        try
        {
            return Run(swtpm, rootNote, evidenceDirectory);
        }
        finally
        {
            swtpm?.Dispose();
        }
    }

    private static int Run(Swtpm? swtpm, string rootNote, string? evidenceDirectory)
    {
        // ---- Composition root: engine, in-memory physical memory, VT-x backend, Monitor facade, root of trust, logging.
        ServiceCollection services = new();
        services.AddLogging(logging => logging.AddProvider(new ConsoleLog()));
        services.AddSingleton<IPhysicalMemoryReader>(provider => new PlatformMemoryReader(provider.GetRequiredService<PhysicalMemory>()));
        ITycheBuilder tyche = services.AddTyche(o => o.Cores = 4)
            .AddInMemoryPhysicalMemory(o =>
            {
                o.BaseAddress = 0;
                o.FrameCount = Frames;
                o.TableAreaFirstFrame = TableFirstFrame;
                o.TableFrameCount = TableFrames;
            })
            .AddVtxBackend(new VtxBackendOptions { PhysicalAddressBits = 46 });
        if (swtpm is not null)
        {
            tyche.AddTpmRootOfTrust(o => o.Port = swtpm.Port);
        }
        else
        {
            tyche.AddSoftwareRootOfTrustForTests();
        }

        using ServiceProvider provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        provider.GetRequiredService<IStartupValidator>().Validate();
        Monitor monitor = provider.GetRequiredService<Monitor>();
        CapabilityEngine engine = monitor.Engine;
        PhysicalMemory memory = provider.GetRequiredService<PhysicalMemory>();
        VtxBackend vtx = provider.GetRequiredService<VtxBackend>();
        MonitorAttestation attestation = provider.GetRequiredService<MonitorAttestation>();
        IRootOfTrust root = attestation.RootOfTrust;

        Console.WriteLine($"backends: {string.Join(", ", monitor.Backends.Select(b => b.Name))}; physical memory 0x0-0x{memory.Size:x} ({MemoryMapTable.Size(memory.Size)}), tables at 0x{memory.TableAreaStart:x}");
        if (root.IsTpm)
        {
            Console.WriteLine($"root of trust: {root.Description} ({rootNote})");
        }
        else
        {
            Console.WriteLine($"root of trust: {root.Description}");
            Console.WriteLine($"NOTE: no TPM is used: {rootNote}. The SOFTWARE root of trust (for tests only) signs the quotes; nothing here is evidence a remote party should trust.");
        }

        // ---- Boot: the monitor is measured into the TPM, the OS becomes the manager of everything.
        Section("1. Boot: measured launch, the OS manager domain owns all memory and the GPU");
        byte[] monitorImage = MonitorImage();
        attestation.Launch(monitorImage);
        Console.WriteLine($"monitor image {SHA256.HashData(monitorImage).AsSpan(0, 8).ToArray().Aggregate(string.Empty, (s, b) => s + b.ToString("x2", CultureInfo.InvariantCulture))}... measured into PCR {root.Pcr}, then the monitor attestation key");
        Must(monitor.TryCreateManagerDomain(DomainPermissions.All, out DomainHandle os), "create the OS manager domain");
        Must(monitor.TryStartDomainOnCore(os, Core), "start the OS on core 0");
        Must(monitor.TryCreateRootRegion(os, new AccessRights(0, RamEnd, MemoryOperations.Rights), out LocalCapability ram), "give the OS all RAM");
        if (!DeviceId.TryParse("00:02.0", out DeviceId gpuDevice))
        {
            throw new InvalidOperationException("00:02.0 does not parse.");
        }

        Must(monitor.TryCreateRootDevice(os, gpuDevice, out LocalCapability gpuCapability), "give the OS the GPU 00:02.0");
        Console.WriteLine($"os = {os}: RAM [0x0, 0x{RamEnd:x}), device {gpuDevice}; EPTP 0x{Eptp(vtx, os):x}");

        // ---- The OS creates the SaaS domain and hands it its memory and the GPU.
        Section("2. The OS creates the SaaS domain, grants it 4 MiB and sends it the GPU");
        Must(monitor.TryCreateDomain(os, out LocalCapability saasManagement), "create the SaaS domain");
        Must(engine.TryGetDomainHandle(os, saasManagement, out DomainHandle saas), "look up the SaaS domain");
        Configure(monitor, os, saasManagement, DomainPermissions.All, 1UL << Core);
        Must(monitor.TryGrant(os, ram, s_saasMemory, saasManagement, out LocalCapability saasRevoke, out LocalCapability saasRam), "grant the SaaS memory");
        Must(monitor.TrySend(os, gpuCapability, saasManagement, out LocalCapability saasGpu), "send the GPU to SaaS");
        Must(Operation(monitor, () => engine.TrySeal(os, Core, saasManagement, out s_switch)), "seal the SaaS domain");
        LocalCapability toSaas = s_switch;
        Console.WriteLine($"saas = {saas}: granted {s_saasMemory}, GPU {gpuDevice}; sealed");

        // ---- The SaaS domain runs and builds its GPU I/O domain and its crypto-engine enclave.
        Section("3. Switch to SaaS; it creates the GPU I/O domain and the crypto-engine enclave");
        Must(monitor.TrySwitch(os, Core, toSaas), "switch core 0 to SaaS");
        LocalCapability saasReturn = ReturnCapability(monitor);
        Must(Operation(monitor, () => engine.TryCreateIoDomain(saas, out s_management)), "create the GPU I/O domain");
        LocalCapability gpuManagement = s_management;
        Must(engine.TryGetDomainHandle(saas, gpuManagement, out DomainHandle gpu), "look up the GPU domain");
        Must(monitor.TryCreateDomain(saas, out LocalCapability cryptoManagement), "create the crypto-engine domain");
        Must(engine.TryGetDomainHandle(saas, cryptoManagement, out DomainHandle crypto), "look up the crypto engine");
        Must(monitor.TrySend(saas, saasGpu, gpuManagement, out _), "hand the GPU to its I/O domain");
        Must(monitor.TryShare(saas, saasRam, s_gpuBuffer, gpuManagement, out _, out _), "share the GPU buffer");
        Must(monitor.TryShare(saas, saasRam, s_cryptoBuffer, cryptoManagement, out _, out _), "share the crypto buffer");
        WriteCryptoCode(memory);
        Must(monitor.TryGrant(saas, saasRam, s_cryptoCode, cryptoManagement, out _, out _), "grant the crypto engine its code page");
        Must(monitor.TryGrant(saas, saasRam, s_cryptoKey, cryptoManagement, out _, out _), "grant the crypto engine its key page");
        Configure(monitor, saas, gpuManagement, DomainPermissions.None, 0);
        Configure(monitor, saas, cryptoManagement, DomainPermissions.None, 1UL << Core);
        Must(DomainMeasurement.TryMeasure(engine, crypto, new PlatformMemoryReader(memory), out RegionHash cryptoMeasurement), "measure the crypto engine");
        Must(engine.TrySetMeasurement(crypto, cryptoMeasurement), "record the crypto engine's measurement");
        Must(Operation(monitor, () => engine.TrySeal(saas, Core, gpuManagement, out s_switch)), "seal the GPU domain");
        Must(Operation(monitor, () => engine.TrySeal(saas, Core, cryptoManagement, out s_switch)), "seal the crypto engine");
        LocalCapability toCrypto = s_switch;
        Console.WriteLine($"gpu = {gpu}: I/O domain owning {gpuDevice}, shares {s_gpuBuffer}; VT-d second-level table {(vtx.TryGetSecondLevelTable(gpu, out ulong slRoot, out ushort did) ? $"0x{slRoot:x} (domain id {did})" : "none")}");
        Console.WriteLine($"crypto = {crypto}: enclave, code {s_cryptoCode}, key {s_cryptoKey}, shares {s_cryptoBuffer}; measurement {cryptoMeasurement}");
        Console.WriteLine($"EPT pointers: os 0x{Eptp(vtx, os):x}, saas 0x{Eptp(vtx, saas):x}, crypto 0x{Eptp(vtx, crypto):x}; table frames in use {memory.AllocatedFrameCount}");

        Dictionary<DomainHandle, string> names = new() { [os] = "os", [saas] = "saas", [gpu] = "gpu", [crypto] = "crypto" };
        Section("4. The memory map with reference counts (Figure 4)");
        SystemSnapshot before = SystemSnapshot.Capture(engine, d => names.TryGetValue(d, out string? n) ? n : d.ToString());
        Console.Write(MemoryMapTable.Format(before));
        int violations = engine.CheckInvariants(stackalloc InvariantViolation[16]);
        Console.WriteLine($"invariant checker: {violations} violation(s)");
        Expect(violations == 0, "the engine's invariants hold");
        Expect(RefCount(before, s_cryptoKey.Start) == 1, "the crypto engine's key page has reference count 1");
        Expect(RefCount(before, s_gpuBuffer.Start) == 2 && RefCount(before, s_cryptoBuffer.Start) == 2, "each shared buffer has reference count 2");

        // ---- The customer attests the composition and verifies it against its policy.
        Section("5. The customer attests SaaS + GPU + crypto engine and verifies the evidence");
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        Must(attestation.TryAttest([saas, gpu, crypto], nonce, out AttestationEvidence? evidence), "attest the composition");
        DomainInfoOf(engine, saas, out ulong saasId);
        DomainInfoOf(engine, gpu, out ulong gpuId);
        DomainInfoOf(engine, crypto, out ulong cryptoId);
        string policyJson = PolicyJson(SHA256.HashData(monitorImage), root.Pcr, saasId, gpuId, cryptoId, gpuDevice, ReferenceMeasurement(engine, crypto));
        Console.WriteLine("policy: the SaaS domain shares only with the GPU and the crypto engine; the engine's key page is exclusive:");
        Console.WriteLine(policyJson);
        if (!AttestationPolicy.TryParse(policyJson, out AttestationPolicy? policy, out string policyError))
        {
            throw new InvalidOperationException("The policy does not parse: " + policyError);
        }

        VerificationResult verdict = AttestationVerifier.Verify(evidence!, root.TrustAnchors, nonce, policy!);
        PrintChecks(verdict);
        Console.WriteLine($"verdict: {(verdict.IsTrusted ? "TRUSTED" : "REJECTED")}");
        Expect(verdict.IsTrusted, "the customer trusts the composition");
        VerificationResult replay = AttestationVerifier.Verify(evidence!, root.TrustAnchors, RandomNumberGenerator.GetBytes(32), policy!);
        Console.WriteLine($"the same evidence against a fresh nonce (a replay): {(replay.IsTrusted ? "TRUSTED" : "REJECTED")} ({replay.Failures.First().Check}: {replay.Failures.First().Reason})");
        Expect(!replay.IsTrusted, "a replayed quote is rejected");
        if (evidenceDirectory is not null)
        {
            Directory.CreateDirectory(evidenceDirectory);
            File.WriteAllText(Path.Combine(evidenceDirectory, "evidence.json"), EvidenceBundle.WriteEvidence(evidence!, nonce));
            File.WriteAllText(Path.Combine(evidenceDirectory, "trust.json"), EvidenceBundle.WriteTrust(root.TrustAnchors));
            File.WriteAllText(Path.Combine(evidenceDirectory, "policy.json"), policyJson);
            Console.WriteLine($"evidence, trust anchors and policy written to {evidenceDirectory} (check them with: tyche verify)");
        }

        // ---- Trusted: the customer provisions its key; the enclave runs.
        Section("6. The customer provisions its key; SaaS switches into the crypto engine and back");
        byte[] key = RandomNumberGenerator.GetBytes(32);
        key.CopyTo(memory.GetFrame(s_cryptoKey.Start));
        Must(monitor.TrySwitch(saas, Core, toCrypto), "switch core 0 to the crypto engine");
        LocalCapability cryptoReturn = ReturnCapability(monitor);
        Must(engine.TryGetRunningDomain(Core, out DomainHandle running), "read core 0");
        Console.WriteLine($"core 0 runs {names[running]}; the key page holds {KeyPreview(memory)}");
        Must(monitor.TrySwitch(crypto, Core, cryptoReturn), "return to SaaS");
        Must(monitor.TrySwitch(saas, Core, saasReturn), "return to the OS");
        Must(engine.TryGetRunningDomain(Core, out running), "read core 0");
        Console.WriteLine($"core 0 runs {names[running]} again");

        // ---- Revocation with zeroing.
        Section("7. Revoke with zeroing: SaaS revokes the enclave, the OS revokes SaaS");
        ulong zeroedBefore = memory.ZeroedBytes;
        Must(monitor.TryRevoke(saas, cryptoManagement), "revoke the crypto engine");
        Console.WriteLine($"crypto engine revoked; cleanups: {string.Join(", ", monitor.Actions.AsSpan().ToArray().Where(a => a.Kind == MonitorActionKind.Cleanup))}");
        bool keyZero = IsZero(memory, s_cryptoKey.Start, s_cryptoKey.End);
        Console.WriteLine($"key page [0x{s_cryptoKey.Start:x}, 0x{s_cryptoKey.End:x}) after revocation: {(keyZero ? "all zero" : "NOT ZERO")}");
        Expect(keyZero, "the key page was zeroed");
        Must(monitor.TryRevoke(os, saasManagement), "revoke the SaaS domain (and its GPU domain)");
        bool saasZero = IsZero(memory, s_saasMemory.Start, s_saasMemory.End);
        Console.WriteLine($"SaaS memory [0x{s_saasMemory.Start:x}, 0x{s_saasMemory.End:x}) after revocation: {(saasZero ? "all zero" : "NOT ZERO")}; {memory.ZeroedBytes - zeroedBefore} bytes zeroed in total");
        Expect(saasZero, "the SaaS memory was zeroed");
        _ = saasRevoke;
        Expect(!engine.IsLive(saas) && !engine.IsLive(gpu) && !engine.IsLive(crypto), "SaaS, GPU and crypto domains are gone");
        Expect(engine.TryGetDeviceOwner(gpuDevice, out DomainHandle owner) == CapabilityError.Ok && owner == os, "the GPU is back with the OS");
        SystemSnapshot after = SystemSnapshot.Capture(engine, d => names.TryGetValue(d, out string? n) ? n : d.ToString());
        Console.WriteLine("memory map after revocation:");
        Console.Write(MemoryMapTable.Format(after));
        Expect(after.Memory.All(s => s.ReferenceCount == 1), "every range is back to a single owner");

        Section(s_failures == 0 ? "Done: every expectation held." : $"FAILED: {s_failures} expectation(s) did not hold.");
        return s_failures == 0 ? 0 : 1;
    }

    private static LocalCapability s_switch;
    private static LocalCapability s_management;

    /// <summary>Runs one engine call as a Monitor operation (engine + backends atomically).</summary>
    private static CapabilityError Operation(Monitor monitor, Func<CapabilityError> call)
    {
        monitor.Begin();
        return monitor.Complete(call());
    }

    private static void Configure(Monitor monitor, DomainHandle manager, LocalCapability child, DomainPermissions permissions, ulong cores)
    {
        Must(Operation(monitor, () => monitor.Engine.TrySetChildConfiguration(manager, child, ConfigurationBitmap.Permission, (ulong)permissions)), "set PERMISSION");
        Must(Operation(monitor, () => monitor.Engine.TrySetChildConfiguration(manager, child, ConfigurationBitmap.Trap, 0)), "set TRAP");
        Must(Operation(monitor, () => monitor.Engine.TrySetChildConfiguration(manager, child, ConfigurationBitmap.Core, cores)), "set CORE");
    }

    private static LocalCapability ReturnCapability(Monitor monitor)
    {
        foreach (Update update in monitor.LastUpdates)
        {
            if (update.Kind == UpdateKind.Switch)
            {
                return update.ReturnCapability;
            }
        }

        throw new InvalidOperationException("The switch produced no Switch update.");
    }

    private static ulong Eptp(VtxBackend vtx, DomainHandle domain) => vtx.TryGetEptPointer(domain, out ulong eptp) ? eptp : 0;

    private static void DomainInfoOf(CapabilityEngine engine, DomainHandle domain, out ulong id)
    {
        Must(engine.TryGetDomainInfo(domain, out DomainInfo info), "read a domain");
        id = info.Id;
    }

    private static int RefCount(SystemSnapshot snapshot, ulong address) =>
        snapshot.Memory.FirstOrDefault(s => s.Start <= address && address < s.End)?.ReferenceCount ?? 0;

    /// <summary>The "monitor image": the assemblies that make up the monitor in this process.</summary>
    private static byte[] MonitorImage()
    {
        using MemoryStream image = new();
        foreach (Type type in new[] { typeof(CapabilityEngine), typeof(Monitor), typeof(VtxBackend) })
        {
            byte[] bytes = File.ReadAllBytes(type.Assembly.Location);
            image.Write(bytes);
        }

        return image.ToArray();
    }

    private static readonly byte[] s_cryptoImage = Encoding.ASCII.GetBytes("crypto engine v1: AES-256-GCM over the shared buffer, key in the key page\n");

    private static void WriteCryptoCode(PhysicalMemory memory)
    {
        Span<byte> page = memory.GetFrame(s_cryptoCode.Start);
        page.Clear();
        s_cryptoImage.CopyTo(page);
    }

    /// <summary>The customer's reference value, computed from the enclave's published image and manifest, not from the engine's memory.</summary>
    private static byte[] ReferenceMeasurement(CapabilityEngine engine, DomainHandle crypto)
    {
        Must(engine.TryGetDomainInfo(crypto, out DomainInfo info), "read the crypto engine");
        byte[] page = new byte[PhysicalMemory.FrameSize];
        s_cryptoImage.CopyTo(page, 0);
        using DomainMeasurement measurement = new();
        measurement.AddRegion(s_cryptoCode.Start, s_cryptoCode.End, s_cryptoCode.Operations, confidential: true, page);
        return measurement.Complete(info.Permissions, info.Traps, info.CoreMap).Bytes.ToArray();
    }

    private static string PolicyJson(byte[] monitorDigest, int pcr, ulong saas, ulong gpu, ulong crypto, DeviceId device, byte[] cryptoMeasurement) =>
        string.Create(CultureInfo.InvariantCulture, $$"""
        {
          "version": 1,
          "monitorPcr": {{pcr}},
          "monitorImageDigests": ["{{Convert.ToHexStringLower(monitorDigest)}}"],
          "domains": [
            { "id": {{saas}}, "name": "saas", "sealed": true, "exclusiveMemory": true,
              "allowedSharing": [ { "start": "0x{{s_gpuBuffer.Start:x}}", "end": "0x{{s_gpuBuffer.End:x}}", "partners": [{{gpu}}] },
                                  { "start": "0x{{s_cryptoBuffer.Start:x}}", "end": "0x{{s_cryptoBuffer.End:x}}", "partners": [{{crypto}}] } ] },
            { "id": {{gpu}}, "name": "gpu", "sealed": true, "exclusiveMemory": true, "devices": ["{{device}}"], "onlyListedDevices": true,
              "allowedSharing": [ { "start": "0x{{s_gpuBuffer.Start:x}}", "end": "0x{{s_gpuBuffer.End:x}}", "partners": [{{saas}}] } ] },
            { "id": {{crypto}}, "name": "crypto", "sealed": true, "exclusiveMemory": true,
              "measurement": "{{Convert.ToHexStringLower(cryptoMeasurement)}}",
              "allowedSharing": [ { "start": "0x{{s_cryptoBuffer.Start:x}}", "end": "0x{{s_cryptoBuffer.End:x}}", "partners": [{{saas}}] } ] }
          ]
        }
        """);

    private static void PrintChecks(VerificationResult result)
    {
        foreach (CheckResult check in result.Checks)
        {
            string status = check.Status switch
            {
                CheckStatus.Passed => "PASS",
                CheckStatus.Warning => "WARN",
                CheckStatus.Failed => "FAIL",
                _ => "SKIP",
            };
            Console.WriteLine($"  [{status}] {check.Check}{(check.Subject.Length > 0 ? " [" + check.Subject + "]" : string.Empty)}: {check.Reason}");
        }
    }

    private static string KeyPreview(PhysicalMemory memory) =>
        Convert.ToHexStringLower(memory.GetFrame(s_cryptoKey.Start)[..8]) + "... (32 secret bytes)";

    private static bool IsZero(PhysicalMemory memory, ulong start, ulong end) =>
        memory.Bytes.Slice(checked((int)start), checked((int)(end - start))).IndexOfAnyExcept((byte)0) < 0;

    private static void Section(string title)
    {
        Console.WriteLine();
        Console.WriteLine($"== {title}");
    }

    private static void Must(CapabilityError error, string what)
    {
        if (error != CapabilityError.Ok)
        {
            throw new TycheException(error, $"Could not {what}: {error}.");
        }
    }

    private static void Expect(bool condition, string fact)
    {
        Console.WriteLine($"{(condition ? "ok" : "FAILED")}: {fact}");
        if (!condition)
        {
            s_failures++;
        }
    }
}
