// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using BenchmarkDotNet.Attributes;
using Tyche.Attestation.Reports;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;
using Tyche.Capabilities;

namespace Tyche.Benchmarks;

/// <summary>
/// Attestation hot paths. Targets: quote verification ≤ 0.5 ms; report sign + verify ≥ 2,000 per second on one core
/// (≤ 500 µs per pair). The quote is the checked-in tpm2-tools vector (test/data/attestation), made on swtpm.
/// </summary>
[MemoryDiagnoser]
public class AttestationBenchmarks
{
    private TpmPublic _ak = null!;
    private byte[] _qualifiedName = null!;
    private QuoteVerifier _verifier = null!;
    private TpmQuote _quote = null!;
    private byte[] _nonce = null!;
    private Dictionary<int, byte[]> _pcrs = null!;
    private PcrBankSelection _selection;
    private MonitorAttestationKey _monitorKey = null!;
    private ReportSigner _signer = null!;
    private AttestationReport _report = null!;
    private byte[] _encoded = null!;
    private byte[] _signed = null!;
    private byte[] _keyDigest = null!;

    private static string DataDirectory()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "test", "data", "attestation");
            if (Directory.Exists(candidate)) return candidate;
        }

        throw new DirectoryNotFoundException("test/data/attestation not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Loads the vector and builds a two-domain composition report from a real engine.</summary>
    [GlobalSetup]
    public void Setup()
    {
        string dir = DataDirectory();
        if (!TpmPublic.TryDecodeSized(File.ReadAllBytes(Path.Combine(dir, "ak.pub")), out TpmPublic? ak, out _) ||
            !TpmPublic.TryDecodeSized(File.ReadAllBytes(Path.Combine(dir, "ek.pub")), out TpmPublic? ek, out _))
        {
            throw new InvalidDataException("bad vector");
        }

        _ak = ak!;
        _qualifiedName = TpmNames.Qualify(ek!.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement), _ak.ComputeName());
        _verifier = new QuoteVerifier(_ak, _qualifiedName);
        _quote = new TpmQuote(File.ReadAllBytes(Path.Combine(dir, "quote.msg")), File.ReadAllBytes(Path.Combine(dir, "quote.sig")));
        _nonce = Convert.FromHexString(File.ReadAllText(Path.Combine(dir, "nonce.hex")).Trim());
        _pcrs = new Dictionary<int, byte[]> { [23] = File.ReadAllBytes(Path.Combine(dir, "pcr23.bin")) };
        _selection = PcrBankSelection.Of(TpmAlgorithm.Sha256, 23);
        if (!QuoteVerifyCached()) throw new InvalidDataException("vector does not verify");

        var engine = new CapabilityEngine();
        DomainHandle d0 = engine.CreateManagerDomain(DomainPermissions.All);
        engine.StartDomainOnCore(d0, 0);
        LocalCapability root = engine.CreateRootRegion(d0, new AccessRights(0, 0x100000, MemoryOperations.All));
        LocalCapability m = engine.CreateDomain(d0);
        engine.Grant(d0, root, new AccessRights(0x1000, 0x9000, MemoryOperations.Read | MemoryOperations.Execute | MemoryOperations.Hash), m);
        engine.Share(d0, root, new AccessRights(0x10000, 0x11000, MemoryOperations.Read | MemoryOperations.Write), m);
        engine.SetChildConfiguration(d0, m, ConfigurationBitmap.Permission, 0);
        engine.SetChildConfiguration(d0, m, ConfigurationBitmap.Trap, 0);
        engine.SetChildConfiguration(d0, m, ConfigurationBitmap.Core, 0b10);
        engine.Seal(d0, 1, m);
        DomainHandle d1 = engine.GetDomainHandle(d0, m);
        engine.TrySetMeasurement(d1, RegionHash.Filled(0xAB));
        _monitorKey = MonitorAttestationKey.Generate();
        _keyDigest = MeasuredLaunch.KeyDigest(_monitorKey.SubjectPublicKeyInfo);
        var identity = new MonitorIdentity(new byte[32], _keyDigest, 23);
        if (new ReportBuilder(engine).TryBuildCompositionReport([d0, d1], _nonce, identity, out AttestationReport? report) != CapabilityError.Ok)
        {
            throw new InvalidOperationException("report");
        }

        _report = report!;
        _encoded = _report.Encode();
        _signer = new ReportSigner(_monitorKey);
        _signed = _signer.Sign(_report);
        if (!VerifySignedReport()) throw new InvalidOperationException("signed report does not verify");
    }

    /// <summary>Disposes the keys.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _verifier.Dispose();
        _monitorKey.Dispose();
    }

    /// <summary>Quote verification with the enrolled AK already imported (the relying party's steady state).</summary>
    [Benchmark]
    public bool QuoteVerifyCached() => _verifier.Verify(_quote, _nonce, _selection, _pcrs, new VerificationResult(), out _);

    /// <summary>Quote verification including importing the AK public key.</summary>
    [Benchmark]
    public bool QuoteVerifyWithKeyImport()
    {
        using var v = new QuoteVerifier(_ak, _qualifiedName);
        return v.Verify(_quote, _nonce, _selection, _pcrs, new VerificationResult(), out _);
    }

    /// <summary>Canonical CBOR encoding of a two-domain composition report.</summary>
    [Benchmark]
    public byte[] ReportEncode() => _report.Encode();

    /// <summary>Strict decoding of the same report.</summary>
    [Benchmark]
    public bool ReportDecode() => AttestationReport.TryDecode(_encoded, out _, out _);

    /// <summary>CMS signing of the report.</summary>
    [Benchmark]
    public byte[] ReportSign() => _signer.Sign(_report);

    /// <summary>CMS verification, strict profile, key binding and decoding of a signed report.</summary>
    [Benchmark]
    public bool VerifySignedReport() => AttestationVerifier.VerifySignedReport(_signed, _keyDigest, new VerificationResult(), out _);

    /// <summary>The target pair: sign, then verify.</summary>
    [Benchmark]
    public bool ReportSignAndVerify() => AttestationVerifier.VerifySignedReport(_signer.Sign(_report), _keyDigest, new VerificationResult(), out _);
}
