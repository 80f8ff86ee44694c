// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tyche.Attestation.Reports;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;
using Tyche.Capabilities;

namespace Tyche.Attestation.Tests;

/// <summary>
/// The whole chain on swtpm: EK certificate + credential activation enrol the AK; measured launch binds the monitor
/// image and key; the verifier's nonce goes into the quote and the report; the engine's state is reported, signed
/// and checked against a JSON policy. Then every link is broken in turn.
/// </summary>
public sealed class EndToEndTests : IClassFixture<SwtpmFixture>
{
    private const int Pcr = MeasuredLaunch.DefaultPcr;
    private static readonly byte[] MonitorImage = "tyche monitor image v1 (test build)"u8.ToArray();
    private readonly SwtpmFixture _swtpm;

    public EndToEndTests(SwtpmFixture swtpm) => _swtpm = swtpm;

    private sealed class World : IDisposable
    {
        public required TestScenario Scenario;
        public required MonitorAttestationKey MonitorKey;
        public required VerifierTrustAnchors Trust;
        public required byte[] Nonce;
        public required AttestationEvidence Evidence;
        public required AttestationPolicy Policy;
        public required MonitorIdentity Identity;

        public void Dispose() => MonitorKey.Dispose();
    }

    private World Attest(Func<TestScenario, string>? policyJson = null)
    {
        using Tpm2 tpm = _swtpm.Connect();
        var scenario = new TestScenario();

        // Verifier: enrol the AK (EK certificate chain to the swtpm local CA, then credential activation).
        (TpmObject ek, _) = tpm.ReadPublic(TpmHandles.RsaEkPersistent);
        using X509Certificate2 ekCert = X509CertificateLoader.LoadCertificate(tpm.NvReadAll(TpmHandles.RsaEkCertificateNvIndex));
        using X509Certificate2 root = _swtpm.LoadRoot();
        using X509Certificate2 issuer = _swtpm.LoadIssuer();
        TpmObject ak = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.AttestationKeyEccP256());
        try
        {
            var enrolment = new VerificationResult();
            AttestationKeyEnrollment e = AttestationKeyEnrollment.Begin(ekCert, [root], [issuer], ek.Public, ak.Public, enrolment)!;
            Assert.True(e.Complete(tpm.ActivateCredential(ak.Handle, ek.Handle, e.Challenge.CredentialBlob, e.Challenge.EncryptedSecret), enrolment));
            VerifierTrustAnchors trust = e.ToTrustAnchors();

            // Attester: measured launch of the monitor and its freshly generated key.
            MonitorAttestationKey monitorKey = MonitorAttestationKey.Generate();
            tpm.PcrReset(Pcr);
            IReadOnlyList<MeasurementEvent> log = MeasuredLaunch.Measure(tpm, MonitorImage, monitorKey.SubjectPublicKeyInfo, Pcr);

            // Verifier's challenge, attester's evidence.
            byte[] nonce = new NonceTracker(TimeSpan.FromMinutes(5)).Issue();
            PcrBankSelection selection = PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr);
            TpmQuote quote = tpm.Quote(ak.Handle, nonce, [selection]);
            SortedDictionary<int, byte[]> pcrs = tpm.PcrRead(selection);
            var identity = new MonitorIdentity(log[0].Digest, log[1].Digest, Pcr);
            Assert.Equal(CapabilityError.Ok, new ReportBuilder(scenario.Engine, scenario.Memory)
                .TryBuildCompositionReport([scenario.Enclave, scenario.Manager], nonce, identity, out AttestationReport? report));
            byte[] signed = new ReportSigner(monitorKey).Sign(report!);
            var evidence = new AttestationEvidence
            {
                Quote = quote, AttestationKeyPublic = ak.Public.Raw.ToArray(), PcrValues = pcrs, EventLog = log, SignedReport = signed,
            };
            string json = policyJson?.Invoke(scenario) ?? scenario.PolicyJson(SHA256.HashData(MonitorImage), Pcr);
            Assert.True(AttestationPolicy.TryParse(json, out AttestationPolicy? policy, out string error), error);
            return new World
            {
                Scenario = scenario, MonitorKey = monitorKey, Trust = trust, Nonce = nonce, Evidence = evidence, Policy = policy!, Identity = identity,
            };
        }
        finally
        {
            tpm.FlushContext(ak.Handle);
        }
    }

    [Fact]
    public void Whole_chain_verifies_and_every_check_is_reported()
    {
        if (!_swtpm.Available) return;
        using World w = Attest();
        VerificationResult r = AttestationVerifier.Verify(w.Evidence, w.Trust, w.Nonce, w.Policy);
        Assert.True(r.IsTrusted, r.ToString());

        // The evidence survives its wire encoding byte for byte, and the decoded copy verifies too.
        byte[] wire = EvidenceCodec.Encode(w.Evidence);
        Assert.True(EvidenceCodec.TryDecode(wire, out AttestationEvidence? decoded, out int consumed));
        Assert.Equal(wire.Length, consumed);
        Assert.Equal(wire, EvidenceCodec.Encode(decoded!));
        Assert.True(AttestationVerifier.Verify(decoded!, w.Trust, w.Nonce, w.Policy).IsTrusted);
        for (int i = 0; i < wire.Length; i += 7)
        {
            byte[] m = (byte[])wire.Clone();
            m[i] ^= 0x5A;
            if (EvidenceCodec.TryDecode(m, out AttestationEvidence? e, out _))
            {
                Assert.False(AttestationVerifier.Verify(e!, w.Trust, w.Nonce, w.Policy).IsTrusted);
            }
        }

        VerificationCheck[] expected =
        [
            VerificationCheck.AttestationKeyTrust, VerificationCheck.AttestationKeyAttributes, VerificationCheck.TpmSignature,
            VerificationCheck.MagicAndType, VerificationCheck.Nonce, VerificationCheck.SignerName, VerificationCheck.PcrSelection,
            VerificationCheck.PcrDigest, VerificationCheck.LogReplay, VerificationCheck.MonitorDigest, VerificationCheck.CmsSignature,
            VerificationCheck.KeyBinding, VerificationCheck.CertificateKey, VerificationCheck.ReportDecode, VerificationCheck.ReportNonce,
            VerificationCheck.MonitorIdentity, VerificationCheck.Measurement, VerificationCheck.PolicyClause,
        ];
        foreach (VerificationCheck c in expected) Assert.Contains(r.Checks, x => x.Check == c && x.Status == CheckStatus.Passed);
        // sealed, memory, devices x2 for the enclave; sealed and core 0 for the manager.
        Assert.Equal(6, r.Checks.Count(c => c.Check == VerificationCheck.PolicyClause));
    }

    [Fact]
    public void Wrong_nonce_in_quote_and_report_is_rejected()
    {
        if (!_swtpm.Available) return;
        using World w = Attest();
        VerificationResult r = AttestationVerifier.Verify(w.Evidence, w.Trust, RandomNumberGenerator.GetBytes(32), w.Policy);
        Assert.False(r.IsTrusted);
        Assert.True(r.HasFailed(VerificationCheck.Nonce));
        Assert.Equal(CheckStatus.NotEvaluated, r.StatusOf(VerificationCheck.ReportNonce));
    }

    [Fact]
    public void Report_with_a_stale_nonce_but_fresh_quote_is_rejected()
    {
        if (!_swtpm.Available) return;
        using World w = Attest();
        Assert.Equal(CapabilityError.Ok, new ReportBuilder(w.Scenario.Engine).TryBuildCompositionReport(
            [w.Scenario.Enclave, w.Scenario.Manager], RandomNumberGenerator.GetBytes(32), w.Identity, out AttestationReport? stale));
        AttestationEvidence e = w.Evidence with { SignedReport = new ReportSigner(w.MonitorKey).Sign(stale!) };
        VerificationResult r = AttestationVerifier.Verify(e, w.Trust, w.Nonce, w.Policy);
        Assert.True(r.HasFailed(VerificationCheck.ReportNonce));
        Assert.False(r.IsTrusted);
    }

    [Fact]
    public void Report_signed_by_an_unmeasured_key_is_rejected_by_key_binding()
    {
        if (!_swtpm.Available) return;
        using World w = Attest();
        using MonitorAttestationKey rogue = MonitorAttestationKey.Generate("CN=rogue");
        var cms = new System.Security.Cryptography.Pkcs.SignedCms();
        cms.Decode(w.Evidence.SignedReport);
        AttestationEvidence e = w.Evidence with { SignedReport = new ReportSigner(rogue).SignEncoded(cms.ContentInfo.Content) };
        VerificationResult r = AttestationVerifier.Verify(e, w.Trust, w.Nonce, w.Policy);
        Assert.Equal(CheckStatus.Passed, r.StatusOf(VerificationCheck.CmsSignature));
        Assert.True(r.HasFailed(VerificationCheck.KeyBinding));
        Assert.Equal(CheckStatus.NotEvaluated, r.StatusOf(VerificationCheck.ReportDecode));
    }

    [Fact]
    public void Unknown_monitor_tampered_log_and_untrusted_ak_are_rejected()
    {
        if (!_swtpm.Available) return;
        using World w = Attest(s => s.PolicyJson(SHA256.HashData("another monitor"u8), Pcr));
        VerificationResult unknown = AttestationVerifier.Verify(w.Evidence, w.Trust, w.Nonce, w.Policy);
        Assert.True(unknown.HasFailed(VerificationCheck.MonitorDigest));
        Assert.False(unknown.IsTrusted);

        var log = w.Evidence.EventLog.ToList();
        log[0] = log[0] with { Digest = SHA256.HashData("another monitor"u8) };
        VerificationResult tampered = AttestationVerifier.Verify(w.Evidence with { EventLog = log }, w.Trust, w.Nonce, w.Policy);
        Assert.True(tampered.HasFailed(VerificationCheck.LogReplay));

        using Tpm2 tpm = _swtpm.Connect();
        TpmObject rsaAk = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.AttestationKeyRsa2048());
        tpm.FlushContext(rsaAk.Handle);
        var otherTrust = new VerifierTrustAnchors(rsaAk.Public, rsaAk.Public.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement));
        VerificationResult untrusted = AttestationVerifier.Verify(w.Evidence, otherTrust, w.Nonce, w.Policy);
        Assert.True(untrusted.HasFailed(VerificationCheck.AttestationKeyTrust));
        Assert.Equal(CheckStatus.NotEvaluated, untrusted.StatusOf(VerificationCheck.PolicyClause));
    }

    [Fact]
    public void Policy_violations_are_reported_clause_by_clause()
    {
        if (!_swtpm.Available) return;
        using World w = Attest(s => s.PolicyJson(SHA256.HashData(MonitorImage), Pcr,
            enclaveExtra: ", \"exclusiveCores\": [1]",
            managerExtra: ", \"exclusiveMemory\": true, \"devices\": [\"0000:00:03.0\"], \"measurement\": \"" + new string('0', 64) + "\""));
        VerificationResult r = AttestationVerifier.Verify(w.Evidence, w.Trust, w.Nonce, w.Policy);
        Assert.False(r.IsTrusted);
        CheckResult[] failures = r.Failures.ToArray();
        Assert.Contains(failures, f => f.Subject.StartsWith("enclave", StringComparison.Ordinal) && f.Reason == "core 1 is shared with other domains");
        Assert.Contains(failures, f => f.Subject.StartsWith("manager", StringComparison.Ordinal) && f.Reason.Contains("[0x8000, 0x9000) is shared with", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Subject.StartsWith("manager", StringComparison.Ordinal) && f.Reason == "does not own device 0000:00:03.0");
        Assert.Contains(failures, f => f.Check == VerificationCheck.Measurement && f.Subject.StartsWith("manager", StringComparison.Ordinal) && f.Reason.Contains("differs from the reference value", StringComparison.Ordinal));
        // Everything before the policy still passed.
        Assert.Equal(CheckStatus.Passed, r.StatusOf(VerificationCheck.ReportNonce));
    }

    [Fact]
    public void Changed_enclave_code_fails_the_measurement_and_sharing_with_an_unlisted_partner_fails_the_policy()
    {
        if (!_swtpm.Available) return;
        using World w = Attest();
        // Same composition but with different code bytes, measured at seal time.
        var changed = new TestScenario();
        changed.Memory.Bytes[0x1234] ^= 0xFF;
        Assert.Equal(CapabilityError.Ok, DomainMeasurement.TryMeasure(changed.Engine, changed.Enclave, changed.Memory, out RegionHash m));
        Assert.Equal(CapabilityError.Ok, changed.Engine.TrySetMeasurement(changed.Enclave, m));
        Assert.Equal(CapabilityError.Ok, new ReportBuilder(changed.Engine).TryBuildCompositionReport([changed.Enclave, changed.Manager], w.Nonce, w.Identity, out AttestationReport? report));
        VerificationResult r = AttestationVerifier.Verify(w.Evidence with { SignedReport = new ReportSigner(w.MonitorKey).Sign(report!) }, w.Trust, w.Nonce, w.Policy);
        Assert.Contains(r.Failures, f => f.Check == VerificationCheck.Measurement && f.Subject.StartsWith("enclave", StringComparison.Ordinal));

        string strict = w.Scenario.PolicyJson(SHA256.HashData(MonitorImage), Pcr).Replace($"\"partners\": [{w.Scenario.ManagerId}]", "\"partners\": [99]", StringComparison.Ordinal);
        Assert.True(AttestationPolicy.TryParse(strict, out AttestationPolicy? p, out _));
        VerificationResult r2 = AttestationVerifier.Verify(w.Evidence, w.Trust, w.Nonce, p!);
        Assert.Contains(r2.Failures, f => f.Check == VerificationCheck.PolicyClause && f.Reason.Contains("outside the allowed partners", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_mutated_byte_of_the_signed_report_and_every_signature_bit_is_rejected()
    {
        if (!_swtpm.Available) return;
        using World w = Attest();
        byte[] signed = w.Evidence.SignedReport;
        int rejected = 0;
        var accepted = new List<string>();
        for (int i = 0; i < signed.Length; i++)
        {
            foreach (byte mask in new byte[] { 0xFF })
            {
                byte[] m = (byte[])signed.Clone();
                m[i] ^= mask;
                VerificationResult r = AttestationVerifier.Verify(w.Evidence with { SignedReport = m }, w.Trust, w.Nonce, w.Policy);
                if (!r.IsTrusted) rejected++;
                else
                {
                    // Only bytes outside what is signed may change without detection (e.g. unsigned certificate-set
                    // encoding is still verified through the key binding); there must be none that keep the result trusted.
                    accepted.Add($"{i}:{mask:X2}");
                }
            }
        }

        Assert.True(accepted.Count == 0, $"{signed.Length} bytes; accepted mutations: {string.Join(" ", accepted)}");
        Assert.Equal(signed.Length, rejected);

        var cms = new System.Security.Cryptography.Pkcs.SignedCms();
        cms.Decode(signed);
        byte[] signature = cms.SignerInfos[0].GetSignature();
        int at = signed.AsSpan().IndexOf(signature);
        Assert.True(at > 0);
        for (int bit = 0; bit < signature.Length * 8; bit++)
        {
            byte[] m = (byte[])signed.Clone();
            m[at + bit / 8] ^= (byte)(1 << (bit % 8));
            VerificationResult r = AttestationVerifier.Verify(w.Evidence with { SignedReport = m }, w.Trust, w.Nonce, w.Policy);
            Assert.False(r.IsTrusted);
            Assert.True(r.HasFailed(VerificationCheck.CmsSignature));
        }

        // Truncations at every length.
        for (int n = 0; n < signed.Length; n++)
        {
            Assert.False(AttestationVerifier.Verify(w.Evidence with { SignedReport = signed[..n] }, w.Trust, w.Nonce, w.Policy).IsTrusted);
        }
    }
}
