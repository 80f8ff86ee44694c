// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;

namespace Tyche.Attestation;

/// <summary>What a root of trust returns for a quote: the quote, the quoted PCR values and the quoting key's public area.</summary>
/// <param name="Quote">The TPM2_Quote result.</param>
/// <param name="PcrValues">The quoted SHA-256 PCR values.</param>
/// <param name="AttestationKeyPublic">The quoting key's TPMT_PUBLIC bytes.</param>
public sealed record RootOfTrustQuote(TpmQuote Quote, IReadOnlyDictionary<int, byte[]> PcrValues, byte[] AttestationKeyPublic);

/// <summary>
/// Tier 1 of the attestation: measures the monitor at launch into a PCR and quotes that PCR with a verifier's nonce.
/// Implemented by <see cref="TpmRootOfTrust"/> (a TPM 2.0: swtpm or <c>/dev/tpmrm0</c>) and, for tests only, by
/// <see cref="SoftwareRootOfTrustForTests"/>.
/// </summary>
public interface IRootOfTrust
{
    /// <summary>A sentence naming the root of trust, e.g. <c>TPM 2.0 at 127.0.0.1:2321 (swtpm, raw framing)</c>.</summary>
    string Description { get; }

    /// <summary>True for hardware (or emulated hardware such as swtpm), false for the test-only software root.</summary>
    bool IsTpm { get; }

    /// <summary>The PCR the monitor is measured into.</summary>
    int Pcr { get; }

    /// <summary>The attestation key a verifier must have enrolled (pinned) to trust the quotes.</summary>
    VerifierTrustAnchors TrustAnchors { get; }

    /// <summary>Resets the monitor PCR, measures the monitor image and its attestation key into it, and returns the event log.</summary>
    /// <param name="monitorImage">The monitor image bytes.</param>
    /// <param name="monitorKeySubjectPublicKeyInfo">The monitor attestation key (SubjectPublicKeyInfo DER).</param>
    /// <returns>The event log (monitor image, then monitor key).</returns>
    IReadOnlyList<MeasurementEvent> MeasureLaunch(ReadOnlySpan<byte> monitorImage, ReadOnlySpan<byte> monitorKeySubjectPublicKeyInfo);

    /// <summary>Quotes the monitor PCR with <paramref name="nonce"/>.</summary>
    /// <param name="nonce">The verifier's nonce.</param>
    /// <returns>The quote with the PCR values and the key.</returns>
    RootOfTrustQuote Quote(ReadOnlySpan<byte> nonce);
}
