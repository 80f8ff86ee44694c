// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation.Verification;

/// <summary>
/// Enrols an attestation key the way keylime and go-attestation do: validate the EK certificate chain to a
/// manufacturer CA, check that the EK public area matches the certificate, then issue a credential bound to the AK's
/// Name that only the TPM holding that EK can activate. On success the AK Name is pinned.
/// </summary>
public sealed class AttestationKeyEnrollment
{
    private readonly TpmPublic _endorsementKey;
    private readonly TpmPublic _attestationKey;
    private readonly byte[] _expected;

    private AttestationKeyEnrollment(TpmPublic ek, TpmPublic ak, byte[] expected, CredentialChallenge challenge)
    {
        _endorsementKey = ek;
        _attestationKey = ak;
        _expected = expected;
        Challenge = challenge;
    }

    /// <summary>The challenge to send to the attester (input of TPM2_ActivateCredential).</summary>
    public CredentialChallenge Challenge { get; }

    /// <summary>The EK public area the challenge was made for.</summary>
    public TpmPublic EndorsementKey => _endorsementKey;

    /// <summary>The AK being enrolled.</summary>
    public TpmPublic AttestationKey => _attestationKey;

    /// <summary>
    /// Validates the EK certificate and starts an enrolment. The certificate chain must end in one of
    /// <paramref name="trustedRoots"/> (intermediates in <paramref name="intermediates"/>), and the certificate's
    /// public key must equal <paramref name="endorsementKey"/>. The AK must be a restricted signing key.
    /// </summary>
    public static AttestationKeyEnrollment? Begin(X509Certificate2 ekCertificate, IEnumerable<X509Certificate2> trustedRoots,
        IEnumerable<X509Certificate2> intermediates, TpmPublic endorsementKey, TpmPublic attestationKey, VerificationResult result)
    {
        ArgumentNullException.ThrowIfNull(ekCertificate);
        ArgumentNullException.ThrowIfNull(endorsementKey);
        ArgumentNullException.ThrowIfNull(attestationKey);
        ArgumentNullException.ThrowIfNull(result);
        if (!ValidateChain(ekCertificate, trustedRoots, intermediates, out string chainReason))
        {
            result.Fail(VerificationCheck.EndorsementCertificate, chainReason);
            return null;
        }

        byte[] certKey = ekCertificate.PublicKey.ExportSubjectPublicKeyInfo();
        if (!certKey.AsSpan().SequenceEqual(endorsementKey.ExportSubjectPublicKeyInfo()))
        {
            result.Fail(VerificationCheck.EndorsementCertificate, "the EK public area does not match the EK certificate's key");
            return null;
        }

        result.Pass(VerificationCheck.EndorsementCertificate, $"EK certificate '{ekCertificate.Issuer}' chains to a trusted root and matches the EK");
        if (!attestationKey.IsRestrictedSigningKey)
        {
            result.Fail(VerificationCheck.AttestationKeyAttributes, "the AK is not a restricted, fixedTPM signing key");
            return null;
        }

        byte[] secret = RandomNumberGenerator.GetBytes(32);
        CredentialChallenge challenge = TpmCredential.Make(endorsementKey, attestationKey.ComputeName(), secret);
        return new AttestationKeyEnrollment(endorsementKey, attestationKey, secret, challenge);
    }

    /// <summary>Whether <see cref="Complete"/> succeeded.</summary>
    public bool IsEnrolled { get; private set; }

    /// <summary>
    /// The trust anchors for <see cref="AttestationVerifier"/> after a successful enrolment: the AK and its qualified
    /// name as a primary key of <paramref name="hierarchy"/> (the endorsement hierarchy for AKs made by
    /// <see cref="TpmTemplates"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The enrolment has not completed successfully.</exception>
    public VerifierTrustAnchors ToTrustAnchors(uint hierarchy = TpmHandles.Endorsement)
    {
        if (!IsEnrolled) throw new InvalidOperationException("The attestation key is not enrolled: Complete did not succeed.");
        return new VerifierTrustAnchors(_attestationKey, _attestationKey.ComputeQualifiedNameAsPrimary(hierarchy));
    }

    /// <summary>Checks the secret the attester's TPM returned from TPM2_ActivateCredential.</summary>
    public bool Complete(ReadOnlySpan<byte> activatedSecret, VerificationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return IsEnrolled = result.Record(VerificationCheck.CredentialActivation, CryptographicOperations.FixedTimeEquals(activatedSecret, _expected),
            "the TPM holding the certified EK activated the credential for this AK Name",
            "the activated secret is wrong: the AK is not in the TPM of this EK");
    }

    /// <summary>Validates an EK certificate chain against explicit roots only (no system store, no revocation).</summary>
    public static bool ValidateChain(X509Certificate2 certificate, IEnumerable<X509Certificate2> trustedRoots, IEnumerable<X509Certificate2> intermediates, out string reason)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (X509Certificate2 r in trustedRoots) chain.ChainPolicy.CustomTrustStore.Add(r);
        foreach (X509Certificate2 i in intermediates) chain.ChainPolicy.ExtraStore.Add(i);
        // EK certificates carry the TPM's identity in a critical subjectAltName and an EK-specific EKU (TCG EK
        // Credential Profile §3.2); they are not TLS certificates, so only the cryptographic chain is required.
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreWrongUsage | X509VerificationFlags.IgnoreInvalidPolicy;
        bool ok = chain.Build(certificate);
        if (!ok)
        {
            var statuses = new List<string>();
            foreach (X509ChainStatus s in chain.ChainStatus) statuses.Add($"{s.Status}: {s.StatusInformation.Trim()}");
            reason = "EK certificate chain does not validate: " + string.Join("; ", statuses);
            return false;
        }

        reason = "chain valid";
        return true;
    }
}
