// SPDX-License-Identifier: Apache-2.0
using System;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tyche.Attestation.Verification;

/// <summary>
/// The exact CMS profile of a Tyche report (RFC 5652), checked in strict DER so that no byte of the SignedData goes
/// unverified: fields that CMS does not sign (SignedData version, digestAlgorithms, the certificate set) must have
/// exactly the values <see cref="Reports.ReportSigner"/> writes, and the included certificate must be the signer's and
/// carry a valid self-signature.
/// </summary>
internal static class CmsProfile
{
    private const string SignedDataOid = "1.2.840.113549.1.7.2";   // RFC 5652 §5.1
    private const string DataOid = "1.2.840.113549.1.7.1";         // RFC 5652 §4
    private const string Sha256Oid = "2.16.840.1.101.3.4.2.1";     // RFC 5754 §2.2
    private const int SignedDataVersionIssuerSerial = 1;
    private const string EcdsaWithSha256Oid = "1.2.840.10045.4.3.2"; // RFC 5758 §3.2           // RFC 5652 §5.1: version 1 with issuerAndSerialNumber only
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);

    public static bool Check(ReadOnlySpan<byte> der, X509Certificate2 signer, out string reason)
    {
        try
        {
            var outer = new AsnReader(der.ToArray(), AsnEncodingRules.DER);
            AsnReader contentInfo = outer.ReadSequence();
            if (outer.HasData) return Fail("trailing bytes after ContentInfo", out reason);
            if (contentInfo.ReadObjectIdentifier() != SignedDataOid) return Fail("ContentInfo is not signedData", out reason);
            AsnReader explicit0 = contentInfo.ReadSequence(Context0);
            if (contentInfo.HasData) return Fail("extra fields in ContentInfo", out reason);
            AsnReader signedData = explicit0.ReadSequence();
            if (explicit0.HasData) return Fail("extra data after SignedData", out reason);
            if (!signedData.TryReadInt32(out int version) || version != SignedDataVersionIssuerSerial) return Fail("SignedData version is not 1", out reason);
            AsnReader digestAlgorithms = signedData.ReadSetOf();
            AsnReader alg = digestAlgorithms.ReadSequence();
            if (digestAlgorithms.HasData || alg.ReadObjectIdentifier() != Sha256Oid) return Fail("digestAlgorithms is not exactly {SHA-256}", out reason);
            if (alg.HasData) alg.ReadNull();
            if (alg.HasData) return Fail("unexpected digest algorithm parameters", out reason);
            AsnReader encap = signedData.ReadSequence();
            if (encap.ReadObjectIdentifier() != DataOid) return Fail("encapsulated content type is not id-data", out reason);
            AsnReader content = encap.ReadSequence(Context0);
            content.ReadOctetString();
            if (content.HasData || encap.HasData) return Fail("unexpected data in the encapsulated content", out reason);
            AsnReader certificates = signedData.ReadSetOf(Context0);
            ReadOnlyMemory<byte> cert = certificates.ReadEncodedValue();
            if (certificates.HasData || !cert.Span.SequenceEqual(signer.RawData)) return Fail("the certificate set is not exactly the signer certificate", out reason);
            AsnReader signerInfos = signedData.ReadSetOf();
            AsnReader signerInfo = signerInfos.ReadSequence();
            if (signerInfos.HasData || signedData.HasData) return Fail("unexpected SignedData fields (CRLs or several signers)", out reason);
            if (!CheckSignerInfo(signerInfo, signer, out reason)) return false;
            if (!SelfSignatureValid(signer)) return Fail("the signer certificate's self-signature does not verify", out reason);
            reason = string.Empty;
            return true;
        }
        catch (AsnContentException ex)
        {
            return Fail("not strict DER: " + ex.Message, out reason);
        }
        catch (CryptographicException ex)
        {
            return Fail(ex.Message, out reason);
        }
    }

    private static bool CheckSignerInfo(AsnReader si, X509Certificate2 signer, out string reason)
    {
        // RFC 5652 §5.3: version 1, sid = issuerAndSerialNumber, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature.
        if (!si.TryReadInt32(out int version) || version != SignedDataVersionIssuerSerial) return Fail("SignerInfo version is not 1", out reason);
        AsnReader sid = si.ReadSequence();
        ReadOnlyMemory<byte> issuer = sid.ReadEncodedValue();
        System.Numerics.BigInteger serial = sid.ReadInteger();
        if (sid.HasData || !issuer.Span.SequenceEqual(signer.IssuerName.RawData) ||
            serial != new System.Numerics.BigInteger(signer.SerialNumberBytes.Span, isUnsigned: false, isBigEndian: true))
        {
            return Fail("SignerInfo does not identify the included certificate", out reason);
        }

        AsnReader digest = si.ReadSequence();
        if (digest.ReadObjectIdentifier() != Sha256Oid) return Fail("SignerInfo digest algorithm is not SHA-256", out reason);
        if (digest.HasData) digest.ReadNull();
        if (digest.HasData) return Fail("unexpected digest algorithm parameters", out reason);
        if (si.PeekTag() == Context0) si.ReadEncodedValue(); // optional signedAttrs: covered by the signature
        AsnReader sigAlg = si.ReadSequence();
        if (sigAlg.ReadObjectIdentifier() != EcdsaWithSha256Oid || sigAlg.HasData) return Fail("SignerInfo signature algorithm is not ecdsa-with-SHA256", out reason);
        si.ReadOctetString();
        if (si.HasData) return Fail("SignerInfo has unsigned attributes or extra fields", out reason);
        reason = string.Empty;
        return true;
    }

    /// <summary>Verifies an ECDSA self-signed certificate's signature over its TBSCertificate (RFC 5280 §4.1).</summary>
    internal static bool SelfSignatureValid(X509Certificate2 certificate)
    {
        using ECDsa? key = certificate.GetECDsaPublicKey();
        if (key is null) return false;
        var reader = new AsnReader(certificate.RawData, AsnEncodingRules.DER);
        AsnReader cert = reader.ReadSequence();
        ReadOnlyMemory<byte> tbs = cert.ReadEncodedValue();
        AsnReader sigAlg = cert.ReadSequence();
        string oid = sigAlg.ReadObjectIdentifier();
        byte[] signature = cert.ReadBitString(out int unused);
        if (unused != 0 || cert.HasData || reader.HasData) return false;
        HashAlgorithmName hash = oid switch
        {
            "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256, // ecdsa-with-SHA256 (RFC 5758 §3.2)
            "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
            _ => default,
        };
        return hash.Name is not null && key.VerifyData(tbs.Span, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    private static bool Fail(string message, out string reason)
    {
        reason = message;
        return false;
    }
}
