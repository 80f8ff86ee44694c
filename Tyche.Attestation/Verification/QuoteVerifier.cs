// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation.Verification;

/// <summary>
/// Verifies TPM2_Quote evidence in pure managed code against one trusted attestation key. Order: key attributes,
/// signature (fatal: nothing in an unsigned structure is looked at), magic and type, nonce, signer name, PCR
/// selection, PCR digest, clock. The imported key is cached, so one instance verifies many quotes cheaply.
/// </summary>
public sealed class QuoteVerifier : IDisposable
{
    /// <summary>Shortest accepted nonce: 16 bytes (an empty nonce is accepted by the TPM, so the verifier must refuse it).</summary>
    public const int MinimumNonceLength = 16;

    /// <summary>Longest accepted nonce (TPM2B_DATA holds at most sizeof(TPMT_HA) = 66; 64 keeps it a digest).</summary>
    public const int MaximumNonceLength = 64;

    private readonly TpmPublic _key;
    private readonly byte[] _expectedQualifiedSigner;
    private readonly ECDsa? _ecdsa;
    private readonly RSA? _rsa;

    /// <summary>Creates a verifier for quotes signed by <paramref name="attestationKey"/>.</summary>
    /// <param name="attestationKey">The trusted attestation key's public area.</param>
    /// <param name="expectedQualifiedSigner">Its qualified name (e.g. <see cref="TpmPublic.ComputeQualifiedNameAsPrimary"/> with the endorsement hierarchy).</param>
    public QuoteVerifier(TpmPublic attestationKey, ReadOnlySpan<byte> expectedQualifiedSigner)
    {
        ArgumentNullException.ThrowIfNull(attestationKey);
        _key = attestationKey;
        _expectedQualifiedSigner = expectedQualifiedSigner.ToArray();
        if (attestationKey.Type == TpmAlgorithm.Ecc) _ecdsa = attestationKey.CreateECDsa();
        else _rsa = attestationKey.CreateRsa();
    }

    /// <summary>The attestation key this verifier trusts.</summary>
    public TpmPublic AttestationKey => _key;

    /// <summary>
    /// Verifies a quote. Never throws for malformed evidence: every problem becomes a failed check with a reason.
    /// </summary>
    /// <param name="quote">The raw TPMS_ATTEST and TPMT_SIGNATURE.</param>
    /// <param name="nonce">The nonce the verifier issued for this quote.</param>
    /// <param name="expectedSelection">The SHA-256 bank selection the verifier asked for.</param>
    /// <param name="pcrValues">The claimed PCR values of that selection (index → 32-byte value).</param>
    /// <param name="result">Receives the checks.</param>
    /// <param name="attest">The decoded TPMS_ATTEST when the signature verified.</param>
    /// <returns>Whether every quote check passed.</returns>
    public bool Verify(TpmQuote quote, ReadOnlySpan<byte> nonce, PcrBankSelection expectedSelection,
        IReadOnlyDictionary<int, byte[]> pcrValues, VerificationResult result, out TpmsAttest? attest)
    {
        ArgumentNullException.ThrowIfNull(quote);
        ArgumentNullException.ThrowIfNull(pcrValues);
        ArgumentNullException.ThrowIfNull(result);
        attest = null;
        bool ok = result.Record(VerificationCheck.AttestationKeyAttributes, _key.IsRestrictedSigningKey,
            "restricted, sign, fixedTPM, fixedParent, sensitiveDataOrigin, not decrypt",
            $"attestation key attributes {_key.Attributes} are not those of a restricted TPM-resident signing key");

        if (!VerifySignature(quote, out string sigReason))
        {
            result.Fail(VerificationCheck.TpmSignature, sigReason);
            foreach (VerificationCheck c in new[] { VerificationCheck.MagicAndType, VerificationCheck.Nonce, VerificationCheck.SignerName, VerificationCheck.PcrSelection, VerificationCheck.PcrDigest })
            {
                result.NotEvaluated(c, "the TPM signature did not verify, so the quoted structure is not trusted");
            }

            return false;
        }

        result.Pass(VerificationCheck.TpmSignature, sigReason);
        if (!TpmsAttest.TryDecode(quote.Attest, out attest, out int consumed) || consumed != quote.Attest.Length)
        {
            attest = null;
            result.Fail(VerificationCheck.MagicAndType, "TPMS_ATTEST is truncated, has an invalid field or trailing bytes");
            return false;
        }

        if (attest!.Magic != TpmAttestConstants.GeneratedMagic || attest.Type != TpmStructureTag.AttestQuote)
        {
            result.Fail(VerificationCheck.MagicAndType, $"magic 0x{attest.Magic:X8} / type {attest.Type}: expected 0xFF544347 / AttestQuote");
            return false;
        }

        result.Pass(VerificationCheck.MagicAndType, "TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, no trailing bytes");

        if (nonce.Length is < MinimumNonceLength or > MaximumNonceLength)
        {
            ok &= result.Fail(VerificationCheck.Nonce, $"the verifier nonce has {nonce.Length} bytes; 16..64 are required");
        }
        else
        {
            ok &= result.Record(VerificationCheck.Nonce, CryptographicOperations.FixedTimeEquals(attest.ExtraData.Span, nonce),
                "extraData equals the verifier's nonce",
                "extraData differs from the verifier's nonce (stale or replayed quote)");
        }

        ok &= result.Record(VerificationCheck.SignerName, attest.QualifiedSigner.Span.SequenceEqual(_expectedQualifiedSigner),
            "qualifiedSigner equals the attestation key's qualified name",
            $"qualifiedSigner {Convert.ToHexString(attest.QualifiedSigner.Span)} is not the expected {Convert.ToHexString(_expectedQualifiedSigner)}");

        bool selectionOk = attest.PcrSelection.Count == 1 && attest.PcrSelection[0] == expectedSelection;
        ok &= result.Record(VerificationCheck.PcrSelection, selectionOk,
            $"quoted selection is exactly {expectedSelection}",
            $"quoted selection [{string.Join(";", attest.PcrSelection)}] differs from the requested {expectedSelection}");

        if (!selectionOk)
        {
            result.NotEvaluated(VerificationCheck.PcrDigest, "the PCR selection differs");
        }
        else
        {
            ok &= CheckPcrDigest(attest, expectedSelection, pcrValues, result);
        }

        if (attest.ClockInfo.Safe) result.Pass(VerificationCheck.ClockInfo, $"resetCount {attest.ClockInfo.ResetCount}, clock safe");
        else result.Warn(VerificationCheck.ClockInfo, "TPM clock is not marked safe (unorderly shutdown); clock may repeat");
        return ok;
    }

    private static bool CheckPcrDigest(TpmsAttest attest, PcrBankSelection selection, IReadOnlyDictionary<int, byte[]> values, VerificationResult result)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (int index in selection.Indices())
        {
            if (!values.TryGetValue(index, out byte[]? v) || v.Length != SHA256.HashSizeInBytes)
            {
                return result.Fail(VerificationCheck.PcrDigest, $"no 32-byte value supplied for PCR {index}");
            }

            hash.AppendData(v);
        }

        if (values.Count != selection.Indices().Length)
        {
            return result.Fail(VerificationCheck.PcrDigest, "PCR values were supplied for PCRs outside the quoted selection");
        }

        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return result.Record(VerificationCheck.PcrDigest, attest.PcrDigest.Span.SequenceEqual(digest),
            "pcrDigest equals SHA-256 of the supplied PCR values",
            "pcrDigest does not match the supplied PCR values");
    }

    private bool VerifySignature(TpmQuote quote, out string reason)
    {
        if (!TpmSignature.TryDecode(quote.Signature, out TpmSignature? sig, out int consumed) || consumed != quote.Signature.Length)
        {
            reason = "TPMT_SIGNATURE is malformed, of an unsupported scheme, or has trailing bytes";
            return false;
        }

        HashAlgorithmName hashName;
        Span<byte> digest = stackalloc byte[64];
        int digestLength;
        switch (sig!.Hash)
        {
            case TpmAlgorithm.Sha256:
                hashName = HashAlgorithmName.SHA256;
                digestLength = SHA256.HashData(quote.Attest, digest);
                break;
            case TpmAlgorithm.Sha384:
                hashName = HashAlgorithmName.SHA384;
                digestLength = SHA384.HashData(quote.Attest, digest);
                break;
            case TpmAlgorithm.Sha512:
                hashName = HashAlgorithmName.SHA512;
                digestLength = SHA512.HashData(quote.Attest, digest);
                break;
            default:
                reason = $"signature hash {sig.Hash} is not allowed (SHA-256 or stronger required)";
                return false;
        }

        digest = digest[..digestLength];
        if (sig.Scheme == TpmAlgorithm.EcDsa)
        {
            if (_ecdsa is null)
            {
                reason = "an ECDSA signature cannot come from an RSA attestation key";
                return false;
            }

            int size = TpmPublic.CurveSize(_key.Curve);
            if (sig.R.Length > size || sig.S.Length > size)
            {
                reason = "ECDSA r or s is longer than the curve's field";
                return false;
            }

            Span<byte> p1363 = stackalloc byte[2 * size];
            p1363.Clear();
            sig.R.Span.CopyTo(p1363[(size - sig.R.Length)..size]);
            sig.S.Span.CopyTo(p1363[(2 * size - sig.S.Length)..]);
            bool ok = _ecdsa.VerifyHash(digest, p1363, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            reason = ok ? $"ECDSA-{sig.Hash} signature verifies" : "ECDSA signature does not verify over TPMS_ATTEST";
            return ok;
        }

        if (_rsa is null)
        {
            reason = "an RSA signature cannot come from an ECC attestation key";
            return false;
        }

        RSASignaturePadding padding = sig.Scheme == TpmAlgorithm.RsaPss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        bool rsaOk = sig.RsaSignature.Length == _key.RsaKeyBits / 8 && _rsa.VerifyHash(digest, sig.RsaSignature.Span, hashName, padding);
        reason = rsaOk ? $"{sig.Scheme}-{sig.Hash} signature verifies" : "RSA signature does not verify over TPMS_ATTEST";
        return rsaOk;
    }

    /// <summary>Computes the value a PCR holds after extending <paramref name="digests"/> in order from zero.</summary>
    public static byte[] Replay(IEnumerable<byte[]> digests)
    {
        ArgumentNullException.ThrowIfNull(digests);
        byte[] pcr = new byte[SHA256.HashSizeInBytes];
        byte[] buffer = new byte[2 * SHA256.HashSizeInBytes];
        foreach (byte[] d in digests)
        {
            pcr.CopyTo(buffer, 0);
            d.CopyTo(buffer, SHA256.HashSizeInBytes);
            pcr = SHA256.HashData(buffer);
        }

        return pcr;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _ecdsa?.Dispose();
        _rsa?.Dispose();
    }
}
