// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tyche.Attestation.Reports;
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation.Verification;

/// <summary>Everything an attester sends: the TPM quote, the quoted PCR values, the measured-launch log and the signed report.</summary>
public sealed record AttestationEvidence
{
    /// <summary>The TPM quote.</summary>
    public required TpmQuote Quote { get; init; }
    /// <summary>The attestation key's TPMT_PUBLIC bytes, as the attester claims them.</summary>
    public required byte[] AttestationKeyPublic { get; init; }
    /// <summary>The quoted SHA-256 PCR values.</summary>
    public required IReadOnlyDictionary<int, byte[]> PcrValues { get; init; }
    /// <summary>The measured-launch event log of the monitor PCR.</summary>
    public required IReadOnlyList<MeasurementEvent> EventLog { get; init; }
    /// <summary>The CMS SignedData report.</summary>
    public required byte[] SignedReport { get; init; }
}

/// <summary>Trust anchors of the verifier: the attestation key enrolled earlier (EK chain + credential activation, or pinned).</summary>
/// <param name="AttestationKey">The trusted AK public area.</param>
/// <param name="QualifiedName">The AK's qualified name as it appears in quotes.</param>
public sealed record VerifierTrustAnchors(TpmPublic AttestationKey, byte[] QualifiedName);

/// <summary>
/// The relying party's verifier, in pure managed code. It walks the whole chain and records every check with its own
/// status and reason: AK trust → quote → event-log replay → monitor digest → key binding → CMS signature →
/// certificate key → report decoding → report nonce → monitor identity → measurements → each policy clause. A
/// failure makes the dependent checks <see cref="CheckStatus.NotEvaluated"/>; the result is trusted only if every
/// check passed.
/// </summary>
public static class AttestationVerifier
{
    /// <summary>Verifies evidence against trust anchors, the verifier's nonce and a policy. Never throws for bad evidence.</summary>
    public static VerificationResult Verify(AttestationEvidence evidence, VerifierTrustAnchors trust, ReadOnlySpan<byte> nonce, AttestationPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(trust);
        ArgumentNullException.ThrowIfNull(policy);
        var result = new VerificationResult();

        // 1. The attestation key in the evidence is the enrolled one.
        if (!result.Record(VerificationCheck.AttestationKeyTrust, evidence.AttestationKeyPublic.AsSpan().SequenceEqual(trust.AttestationKey.Raw),
                "the quoting key is the enrolled attestation key", "the quoting key is not the enrolled attestation key"))
        {
            NotEvaluatedFrom(result, VerificationCheck.TpmSignature, "the attestation key is not trusted");
            return result;
        }

        // 2. The quote.
        PcrBankSelection selection = PcrBankSelection.Of(TpmAlgorithm.Sha256, policy.MonitorPcr);
        QuoteVerifier quoteVerifier = QuoteVerifiers.Get(trust);
        bool quoteOk;
        lock (quoteVerifier)
        {
            quoteOk = quoteVerifier.Verify(evidence.Quote, nonce, selection, evidence.PcrValues, result, out _);
        }

        if (!quoteOk)
        {
            NotEvaluatedFrom(result, VerificationCheck.LogReplay, "the TPM quote did not verify");
            return result;
        }

        // 3. Event log replay: exactly the monitor image then the monitor key, into the monitor PCR.
        IReadOnlyList<MeasurementEvent> log = evidence.EventLog;
        bool shape = log.Count == 2 && log.All(e => e.Pcr == policy.MonitorPcr && e.Digest.Length == SHA256.HashSizeInBytes) &&
                     log[0].Kind == MeasurementEventKind.MonitorImage && log[1].Kind == MeasurementEventKind.MonitorAttestationKey;
        if (!shape)
        {
            result.Fail(VerificationCheck.LogReplay, $"the event log must hold exactly [monitor image, monitor key] for PCR {policy.MonitorPcr}");
            NotEvaluatedFrom(result, VerificationCheck.MonitorDigest, "the event log is not trusted");
            return result;
        }

        byte[] replayed = QuoteVerifier.Replay(log.Select(e => e.Digest));
        if (!result.Record(VerificationCheck.LogReplay, replayed.AsSpan().SequenceEqual(evidence.PcrValues[policy.MonitorPcr]),
                $"replaying the log reproduces PCR {policy.MonitorPcr}", $"replaying the log does not reproduce the quoted PCR {policy.MonitorPcr}"))
        {
            NotEvaluatedFrom(result, VerificationCheck.MonitorDigest, "the event log is not trusted");
            return result;
        }

        byte[] imageDigest = log[0].Digest;
        byte[] keyDigest = log[1].Digest;
        bool knownMonitor = policy.MonitorImageDigests.Any(d => d.AsSpan().SequenceEqual(imageDigest));
        bool ok = result.Record(VerificationCheck.MonitorDigest, knownMonitor, "the measured monitor image is a reference value",
            $"monitor image digest {Convert.ToHexString(imageDigest)} is not a reference value");

        // 4. The CMS signature and its signer.
        if (!VerifySignedReport(evidence.SignedReport, keyDigest, result, out AttestationReport? report) || report is null)
        {
            return result;
        }

        ok &= result.Record(VerificationCheck.ReportNonce, nonce.Length > 0 && CryptographicOperations.FixedTimeEquals(report!.Nonce, nonce),
            "the report carries the verifier's nonce", "the report's nonce differs from the verifier's nonce");
        ok &= result.Record(VerificationCheck.MonitorIdentity,
            report!.Monitor.ImageDigest.AsSpan().SequenceEqual(imageDigest) && report!.Monitor.KeyDigest.AsSpan().SequenceEqual(keyDigest) && report!.Monitor.Pcr == policy.MonitorPcr,
            "the report names the measured monitor image, key and PCR", "the report's monitor identity differs from the TPM measurements");

        // 7. Measurements and policy clauses.
        foreach (DomainPolicy dp in policy.Domains)
        {
            string subject = dp.Name.Length > 0 ? $"{dp.Name} (id {dp.Id})" : $"id {dp.Id}";
            ReportedDomain? d = report.FindDomain(dp.Id);
            if (d is null)
            {
                ok &= result.Fail(VerificationCheck.PolicyClause, "the domain is not in the report", subject);
                continue;
            }

            ok &= CheckDomain(dp, d, subject, result);
        }

        _ = ok;
        return result;
    }

    /// <summary>
    /// Verifies a signed report on its own: strict CMS profile and ECDSA signature, key binding to
    /// <paramref name="measuredKeyDigest"/> (SHA-256 of the monitor key's SubjectPublicKeyInfo as measured by the TPM),
    /// the certificate (self-signature, key type, key usage), and canonical decoding. Records CmsSignature,
    /// KeyBinding, CertificateKey and ReportDecode. Validated signer certificates are cached by their SHA-256.
    /// </summary>
    public static bool VerifySignedReport(byte[] signedReport, ReadOnlySpan<byte> measuredKeyDigest, VerificationResult result, out AttestationReport? report)
    {
        ArgumentNullException.ThrowIfNull(signedReport);
        ArgumentNullException.ThrowIfNull(result);
        report = null;
        if (!CmsProfile.TryParse(signedReport, out ParsedSignedReport cms, out string reason) || !SignerCache.TryGet(cms.Certificate, out SignerCache.Entry? signer, out reason))
        {
            result.Fail(VerificationCheck.CmsSignature, "CMS SignedData does not verify: " + reason);
            NotEvaluatedFrom(result, VerificationCheck.KeyBinding, "the report signature is not valid");
            return false;
        }

        bool sidOk = cms.Issuer.Span.SequenceEqual(signer!.Issuer) && cms.Serial.Span.SequenceEqual(signer.Serial);
        if (!sidOk || !signer.Verify(cms.Content.Span, cms.Signature.Span))
        {
            result.Fail(VerificationCheck.CmsSignature, sidOk ? "CMS SignedData does not verify: the ECDSA signature over the report is invalid"
                : "CMS SignedData does not verify: the signer identifier does not name the included certificate");
            NotEvaluatedFrom(result, VerificationCheck.KeyBinding, "the report signature is not valid");
            return false;
        }

        result.Pass(VerificationCheck.CmsSignature, "CMS SignedData (strict profile) signature verifies with the included signer certificate");

        // The signer's key is the one the TPM measured (key binding) and the certificate allows signing.
        bool bound = result.Record(VerificationCheck.KeyBinding, CryptographicOperations.FixedTimeEquals(signer.KeyDigest, measuredKeyDigest),
            "the report signer's key is the monitor key measured into the quoted PCR",
            "the report signer's key is not the key measured by the TPM");
        bool certOk = result.Record(VerificationCheck.CertificateKey, signer.CertificateOk,
            "signer certificate: valid self-signature, ECDSA P-256 key, digitalSignature usage",
            signer.CertificateProblem);
        if (!bound)
        {
            NotEvaluatedFrom(result, VerificationCheck.ReportDecode, "the report is not bound to the TPM evidence");
            return false;
        }

        if (!AttestationReport.TryDecode(cms.Content.Span, out report, out _, out ReportDecodeError decodeError))
        {
            result.Fail(VerificationCheck.ReportDecode, $"the signed content is not a valid report: {decodeError}");
            NotEvaluatedFrom(result, VerificationCheck.ReportNonce, "the report could not be decoded");
            return false;
        }

        result.Pass(VerificationCheck.ReportDecode, $"canonical CBOR report v{report!.Version}, {report.Kind}, {report.Domains.Length} domain(s)");
        return certOk;
    }

    private static bool CheckDomain(DomainPolicy dp, ReportedDomain d, string subject, VerificationResult result)
    {
        bool ok = true;
        if (dp.Measurement is not null)
        {
            ok &= result.Record(VerificationCheck.Measurement, d.Measurement is not null && d.Measurement.AsSpan().SequenceEqual(dp.Measurement),
                "measurement equals the reference value",
                d.Measurement is null ? "the report has no measurement for the domain" : $"measurement {Convert.ToHexString(d.Measurement)} differs from the reference value", subject);
        }

        if (dp.Sealed is bool mustBeSealed)
        {
            ok &= result.Record(VerificationCheck.PolicyClause, d.Sealed == mustBeSealed, $"sealed = {mustBeSealed}", $"sealed is {d.Sealed}, policy requires {mustBeSealed}", subject);
        }

        if (dp.ExclusiveMemory || dp.AllowedSharing.Count > 0)
        {
            var problems = new List<string>();
            foreach (ReportedRange r in d.Memory)
            {
                if (r.ReferenceCount <= 1) continue;
                SharingRule? rule = dp.AllowedSharing.FirstOrDefault(s => s.Start <= r.Start && r.End <= s.End);
                if (rule is null)
                {
                    if (dp.ExclusiveMemory) problems.Add($"[0x{r.Start:x}, 0x{r.End:x}) is shared with {string.Join(",", r.SharedWith)} but must be exclusive");
                    continue;
                }

                ulong[] extra = r.SharedWith.Where(p => !rule.Partners.Contains(p)).ToArray();
                if (extra.Length > 0) problems.Add($"[0x{r.Start:x}, 0x{r.End:x}) is shared with {string.Join(",", extra)}, outside the allowed partners");
            }

            ok &= result.Record(VerificationCheck.PolicyClause, problems.Count == 0,
                dp.ExclusiveMemory ? "memory is exclusive except the allowed shared ranges" : "shared ranges only with allowed partners",
                string.Join("; ", problems), subject);
        }

        foreach (int core in dp.ExclusiveCores)
        {
            bool exclusive = d.Cores.Any(c => c.Core == core && c.Exclusive);
            ok &= result.Record(VerificationCheck.PolicyClause, exclusive, $"core {core} is exclusive",
                d.Cores.Any(c => c.Core == core) ? $"core {core} is shared with other domains" : $"the domain may not run on core {core}", subject);
        }

        foreach (Capabilities.DeviceId dev in dp.Devices)
        {
            ok &= result.Record(VerificationCheck.PolicyClause, d.Devices.Contains(dev), $"owns device {dev}", $"does not own device {dev}", subject);
        }

        if (dp.OnlyListedDevices)
        {
            var extra = d.Devices.Where(x => !dp.Devices.Contains(x)).ToArray();
            ok &= result.Record(VerificationCheck.PolicyClause, extra.Length == 0, "owns no unlisted device",
                $"owns unlisted device(s) {string.Join(", ", extra)}", subject);
        }

        return ok;
    }

    /// <summary>Imported attestation keys, so that repeated verifications of one attester skip the key import. Bounded.</summary>
    private static class QuoteVerifiers
    {
        private const int Capacity = 256;
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, QuoteVerifier> Cache = new();

        public static QuoteVerifier Get(VerifierTrustAnchors trust)
        {
            string id = Convert.ToHexString(SHA256.HashData(trust.AttestationKey.Raw)) + Convert.ToHexString(trust.QualifiedName);
            if (Cache.TryGetValue(id, out QuoteVerifier? v)) return v;
            if (Cache.Count >= Capacity) Cache.Clear(); // evicted verifiers are left to the GC: another thread may still use one
            return Cache.GetOrAdd(id, _ => new QuoteVerifier(trust.AttestationKey, trust.QualifiedName));
        }
    }

    private static readonly VerificationCheck[] ChainOrder =
    [
        VerificationCheck.TpmSignature, VerificationCheck.LogReplay, VerificationCheck.MonitorDigest, VerificationCheck.CmsSignature,
        VerificationCheck.KeyBinding, VerificationCheck.CertificateKey, VerificationCheck.ReportDecode, VerificationCheck.ReportNonce,
        VerificationCheck.MonitorIdentity, VerificationCheck.Measurement, VerificationCheck.PolicyClause,
    ];

    private static void NotEvaluatedFrom(VerificationResult result, VerificationCheck first, string reason)
    {
        int start = Array.IndexOf(ChainOrder, first);
        for (int i = start; i < ChainOrder.Length; i++)
        {
            if (result.StatusOf(ChainOrder[i]) is null) result.NotEvaluated(ChainOrder[i], reason);
        }
    }
}
