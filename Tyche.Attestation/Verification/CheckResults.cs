// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace Tyche.Attestation.Verification;

/// <summary>Every check the verifier performs, in the order of the trust chain (TPM → monitor key → report → policy).</summary>
public enum VerificationCheck
{
    /// <summary>The attestation key is trusted: pinned by Name, or enrolled through the EK certificate chain and credential activation.</summary>
    AttestationKeyTrust,
    /// <summary>The attestation key is a restricted, fixedTPM, TPM-generated signing key.</summary>
    AttestationKeyAttributes,
    /// <summary>The TPM signature over TPMS_ATTEST verifies with the attestation key (checked first; fatal).</summary>
    TpmSignature,
    /// <summary>TPMS_ATTEST parses strictly, its magic is TPM_GENERATED_VALUE and its type is TPM_ST_ATTEST_QUOTE.</summary>
    MagicAndType,
    /// <summary>The quote's extraData equals the verifier's fresh nonce (16–64 bytes).</summary>
    Nonce,
    /// <summary>The quote's qualifiedSigner equals the attestation key's expected qualified name.</summary>
    SignerName,
    /// <summary>The quoted PCR selection is exactly the requested one.</summary>
    PcrSelection,
    /// <summary>The quote's pcrDigest equals the digest of the supplied PCR values.</summary>
    PcrDigest,
    /// <summary>Replaying the measured-launch event log reproduces the quoted PCR value.</summary>
    LogReplay,
    /// <summary>The measured monitor image digest is one of the reference values.</summary>
    MonitorDigest,
    /// <summary>The TPM clock information is sane (safe flag; only a warning when not safe).</summary>
    ClockInfo,
    /// <summary>The monitor attestation key measured into the PCR is the key of the report signer's certificate.</summary>
    KeyBinding,
    /// <summary>The CMS SignedData signature over the report verifies.</summary>
    CmsSignature,
    /// <summary>The CMS signer certificate carries the measured monitor key and is valid for signing.</summary>
    CertificateKey,
    /// <summary>The signed report decodes with the canonical CBOR schema.</summary>
    ReportDecode,
    /// <summary>The report's nonce equals the verifier's nonce.</summary>
    ReportNonce,
    /// <summary>The report's monitor identity matches the measured monitor image digest and key.</summary>
    MonitorIdentity,
    /// <summary>A domain's measurement equals its reference value.</summary>
    Measurement,
    /// <summary>A clause of the JSON policy (sealed, exclusive memory, sharing, cores, devices).</summary>
    PolicyClause,
    /// <summary>An EK certificate chain check during enrolment.</summary>
    EndorsementCertificate,
    /// <summary>The credential activation proved the attestation key lives in the same TPM as the EK.</summary>
    CredentialActivation,
}

/// <summary>Outcome of one check.</summary>
public enum CheckStatus
{
    /// <summary>The check passed.</summary>
    Passed,
    /// <summary>The check passed with a caveat (e.g. the TPM clock is not marked safe).</summary>
    Warning,
    /// <summary>The check failed; the evidence is not trusted.</summary>
    Failed,
    /// <summary>The check was not evaluated because an earlier check it depends on failed.</summary>
    NotEvaluated,
}

/// <summary>The result of one check.</summary>
/// <param name="Check">Which check.</param>
/// <param name="Status">Its outcome.</param>
/// <param name="Subject">What it was about (e.g. a domain id or a policy clause), or empty.</param>
/// <param name="Reason">A precise human-readable reason.</param>
public sealed record CheckResult(VerificationCheck Check, CheckStatus Status, string Subject, string Reason)
{
    /// <summary>Formats as <c>Check[subject]: Status — reason</c>.</summary>
    public override string ToString() =>
        $"{Check}{(Subject.Length > 0 ? "[" + Subject + "]" : string.Empty)}: {Status} - {Reason}";
}

/// <summary>All check results of one verification. Trusted only if nothing failed or was left unevaluated.</summary>
public sealed class VerificationResult
{
    private readonly List<CheckResult> _checks = [];

    /// <summary>Every check, in evaluation order.</summary>
    public IReadOnlyList<CheckResult> Checks => _checks;

    /// <summary>Whether the whole chain verified: at least one check ran, none failed and none was skipped.</summary>
    public bool IsTrusted => _checks.Count > 0 && _checks.All(c => c.Status is CheckStatus.Passed or CheckStatus.Warning);

    /// <summary>The failed checks.</summary>
    public IEnumerable<CheckResult> Failures => _checks.Where(c => c.Status == CheckStatus.Failed);

    /// <summary>Whether a check of this kind failed.</summary>
    public bool HasFailed(VerificationCheck check) => _checks.Any(c => c.Check == check && c.Status == CheckStatus.Failed);

    /// <summary>The status of the first result of a given check, or null when it was never recorded.</summary>
    public CheckStatus? StatusOf(VerificationCheck check) => _checks.FirstOrDefault(c => c.Check == check)?.Status;

    internal bool Pass(VerificationCheck check, string reason, string subject = "")
    {
        _checks.Add(new CheckResult(check, CheckStatus.Passed, subject, reason));
        return true;
    }

    internal bool Warn(VerificationCheck check, string reason, string subject = "")
    {
        _checks.Add(new CheckResult(check, CheckStatus.Warning, subject, reason));
        return true;
    }

    internal bool Fail(VerificationCheck check, string reason, string subject = "")
    {
        _checks.Add(new CheckResult(check, CheckStatus.Failed, subject, reason));
        return false;
    }

    internal bool Record(VerificationCheck check, bool ok, string passReason, string failReason, string subject = "") =>
        ok ? Pass(check, passReason, subject) : Fail(check, failReason, subject);

    internal void NotEvaluated(VerificationCheck check, string reason, string subject = "") =>
        _checks.Add(new CheckResult(check, CheckStatus.NotEvaluated, subject, reason));

    internal void AddRange(VerificationResult other) => _checks.AddRange(other._checks);

    /// <summary>One line per check.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(IsTrusted ? "TRUSTED" : "NOT TRUSTED").AppendLine();
        foreach (CheckResult c in _checks) sb.Append("  ").Append(c).AppendLine();
        return sb.ToString();
    }
}
