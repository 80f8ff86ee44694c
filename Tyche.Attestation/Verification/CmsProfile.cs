// SPDX-License-Identifier: Apache-2.0
using System;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tyche.Attestation.Verification;

/// <summary>The parts of a Tyche report's SignedData.</summary>
internal readonly record struct ParsedSignedReport(ReadOnlyMemory<byte> Content, ReadOnlyMemory<byte> Certificate,
    ReadOnlyMemory<byte> Issuer, ReadOnlyMemory<byte> Serial, ReadOnlyMemory<byte> Signature);

/// <summary>
/// The exact CMS profile of a Tyche report (RFC 5652), written and read in strict DER so that no byte of the
/// SignedData goes unverified:
/// <code>
/// ContentInfo { id-signedData, [0] SignedData {
///   version 1, digestAlgorithms { sha256 }, encapContentInfo { id-data, [0] OCTET STRING report },
///   certificates [0] { monitor certificate }, signerInfos { SignerInfo {
///     version 1, sid issuerAndSerialNumber, digestAlgorithm sha256, signatureAlgorithm ecdsa-with-SHA256,
///     signature OCTET STRING (ECDSA over SHA-256 of the report; no signed attributes, RFC 5652 §5.4) } } } }
/// </code>
/// Fields CMS does not sign (versions, digestAlgorithms, the certificate set) must have exactly these values.
/// </summary>
internal static class CmsProfile
{
    private const string SignedDataOid = "1.2.840.113549.1.7.2";    // RFC 5652 §5.1
    private const string DataOid = "1.2.840.113549.1.7.1";          // RFC 5652 §4
    private const string Sha256Oid = "2.16.840.1.101.3.4.2.1";      // RFC 5754 §2.2
    private const string EcdsaWithSha256Oid = "1.2.840.10045.4.3.2"; // RFC 5758 §3.2
    private const int Version1 = 1;                                 // RFC 5652 §5.1/§5.3 with issuerAndSerialNumber
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);

    public static byte[] Write(ReadOnlySpan<byte> content, X509Certificate2 certificate, ReadOnlySpan<byte> derSignature)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(SignedDataOid);
            using (w.PushSequence(Context0))
            using (w.PushSequence())
            {
                w.WriteInteger(Version1);
                using (w.PushSetOf())
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(Sha256Oid);
                }

                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(DataOid);
                    using (w.PushSequence(Context0))
                    {
                        w.WriteOctetString(content);
                    }
                }

                using (w.PushSetOf(Context0))
                {
                    w.WriteEncodedValue(certificate.RawData);
                }

                using (w.PushSetOf())
                using (w.PushSequence())
                {
                    w.WriteInteger(Version1);
                    using (w.PushSequence())
                    {
                        w.WriteEncodedValue(certificate.IssuerName.RawData);
                        w.WriteInteger(certificate.SerialNumberBytes.Span); // DER two's complement content, as in the certificate
                    }

                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier(Sha256Oid);
                    }

                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier(EcdsaWithSha256Oid);
                    }

                    w.WriteOctetString(derSignature);
                }
            }
        }

        return w.Encode();
    }

    public static bool TryParse(ReadOnlyMemory<byte> der, out ParsedSignedReport parsed, out string reason)
    {
        parsed = default;
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER);
            AsnReader contentInfo = outer.ReadSequence();
            if (outer.HasData) return Fail("trailing bytes after ContentInfo", out reason);
            if (contentInfo.ReadObjectIdentifier() != SignedDataOid) return Fail("ContentInfo is not signedData", out reason);
            AsnReader explicit0 = contentInfo.ReadSequence(Context0);
            if (contentInfo.HasData) return Fail("extra fields in ContentInfo", out reason);
            AsnReader signedData = explicit0.ReadSequence();
            if (explicit0.HasData) return Fail("extra data after SignedData", out reason);
            if (!signedData.TryReadInt32(out int version) || version != Version1) return Fail("SignedData version is not 1", out reason);
            AsnReader digestAlgorithms = signedData.ReadSetOf();
            if (!ReadAlgorithm(digestAlgorithms, Sha256Oid) || digestAlgorithms.HasData) return Fail("digestAlgorithms is not exactly {SHA-256}", out reason);
            AsnReader encap = signedData.ReadSequence();
            if (encap.ReadObjectIdentifier() != DataOid) return Fail("encapsulated content type is not id-data", out reason);
            AsnReader explicitContent = encap.ReadSequence(Context0);
            if (!explicitContent.TryReadPrimitiveOctetString(out ReadOnlyMemory<byte> content)) return Fail("content is not a primitive OCTET STRING", out reason);
            if (explicitContent.HasData || encap.HasData) return Fail("unexpected data in the encapsulated content", out reason);
            AsnReader certificates = signedData.ReadSetOf(Context0);
            ReadOnlyMemory<byte> cert = certificates.ReadEncodedValue();
            if (certificates.HasData) return Fail("the certificate set must hold exactly the signer certificate", out reason);
            AsnReader signerInfos = signedData.ReadSetOf();
            AsnReader si = signerInfos.ReadSequence();
            if (signerInfos.HasData || signedData.HasData) return Fail("unexpected SignedData fields (CRLs or several signers)", out reason);
            if (!si.TryReadInt32(out int siVersion) || siVersion != Version1) return Fail("SignerInfo version is not 1", out reason);
            AsnReader sid = si.ReadSequence();
            ReadOnlyMemory<byte> issuer = sid.ReadEncodedValue();
            ReadOnlyMemory<byte> serial = sid.ReadIntegerBytes();
            if (sid.HasData) return Fail("SignerInfo sid is not issuerAndSerialNumber", out reason);
            if (!ReadAlgorithm(si, Sha256Oid)) return Fail("SignerInfo digest algorithm is not SHA-256", out reason);
            if (si.PeekTag() == Context0) return Fail("signed attributes are not part of the profile", out reason);
            AsnReader sigAlg = si.ReadSequence();
            if (sigAlg.ReadObjectIdentifier() != EcdsaWithSha256Oid || sigAlg.HasData) return Fail("signature algorithm is not ecdsa-with-SHA256", out reason);
            if (!si.TryReadPrimitiveOctetString(out ReadOnlyMemory<byte> signature)) return Fail("signature is not a primitive OCTET STRING", out reason);
            if (si.HasData) return Fail("SignerInfo has unsigned attributes or extra fields", out reason);
            parsed = new ParsedSignedReport(content, cert, issuer, serial, signature);
            reason = string.Empty;
            return true;
        }
        catch (AsnContentException ex)
        {
            return Fail("not strict DER: " + ex.Message, out reason);
        }
    }

    private static bool ReadAlgorithm(AsnReader reader, string oid)
    {
        AsnReader alg = reader.ReadSequence();
        if (alg.ReadObjectIdentifier() != oid) return false;
        if (alg.HasData) alg.ReadNull(); // RFC 5754 §2: parameters absent or NULL
        return !alg.HasData;
    }

    /// <summary>Verifies an ECDSA self-signed certificate's signature over its TBSCertificate (RFC 5280 §4.1).</summary>
    internal static bool SelfSignatureValid(X509Certificate2 certificate, ECDsa key)
    {
        var reader = new AsnReader(certificate.RawData, AsnEncodingRules.DER);
        AsnReader cert = reader.ReadSequence();
        ReadOnlyMemory<byte> tbs = cert.ReadEncodedValue();
        AsnReader sigAlg = cert.ReadSequence();
        string oid = sigAlg.ReadObjectIdentifier();
        byte[] signature = cert.ReadBitString(out int unused);
        if (unused != 0 || cert.HasData || reader.HasData || oid != EcdsaWithSha256Oid) return false;
        return key.VerifyData(tbs.Span, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    private static bool Fail(string message, out string reason)
    {
        reason = message;
        return false;
    }
}
