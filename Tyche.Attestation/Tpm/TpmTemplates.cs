// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Attestation.Tpm;

/// <summary>
/// Marshalled TPMT_PUBLIC templates for CreatePrimary: restricted signing attestation keys, and the endorsement keys
/// of the TCG EK Credential Profile for TPM Family 2.0 (v2.4, §B.3.3 templates L-1 and L-2).
/// </summary>
public static class TpmTemplates
{
    /// <summary>
    /// Attributes of an attestation key: fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA |
    /// restricted | sign (0x00050472). noDA keeps quotes working when the TPM is in dictionary-attack lockout.
    /// </summary>
    public const TpmObjectAttributes AttestationKeyAttributes =
        TpmObjectAttributes.FixedTpm | TpmObjectAttributes.FixedParent | TpmObjectAttributes.SensitiveDataOrigin |
        TpmObjectAttributes.UserWithAuth | TpmObjectAttributes.NoDictionaryAttack | TpmObjectAttributes.Restricted |
        TpmObjectAttributes.Sign;

    /// <summary>
    /// Attributes of the standard EK: fixedTPM | fixedParent | sensitiveDataOrigin | adminWithPolicy | restricted |
    /// decrypt (0x000300B2; EK Credential Profile §B.3.3).
    /// </summary>
    public const TpmObjectAttributes EndorsementKeyAttributes =
        TpmObjectAttributes.FixedTpm | TpmObjectAttributes.FixedParent | TpmObjectAttributes.SensitiveDataOrigin |
        TpmObjectAttributes.AdminWithPolicy | TpmObjectAttributes.Restricted | TpmObjectAttributes.Decrypt;

    /// <summary>
    /// The EK's authPolicy "PolicyA_SHA256" = PolicySecret(TPM_RH_ENDORSEMENT) (EK Credential Profile §B.3.2).
    /// </summary>
    public static ReadOnlySpan<byte> EndorsementPolicySha256 =>
    [
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
        0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
    ];

    // AES-128 in CFB mode: the EK's symmetric algorithm (EK Credential Profile §B.3.3).
    private const ushort AesKeyBits = 128;
    private const ushort RsaKeyBits = 2048;
    private const int EccP256CoordinateSize = 32;

    /// <summary>ECC NIST P-256 restricted signing key with ECDSA-SHA256.</summary>
    public static byte[] AttestationKeyEccP256()
    {
        var w = Header(TpmAlgorithm.Ecc, AttestationKeyAttributes, ReadOnlySpan<byte>.Empty);
        w.U16((ushort)TpmAlgorithm.Null);                               // symmetric
        w.U16((ushort)TpmAlgorithm.EcDsa).U16((ushort)TpmAlgorithm.Sha256); // scheme
        w.U16((ushort)TpmEccCurve.NistP256);
        w.U16((ushort)TpmAlgorithm.Null);                               // kdf
        w.U16(0).U16(0);                                                // unique x, y empty
        return w.ToArray();
    }

    /// <summary>RSA-2048 restricted signing key with RSASSA-PKCS1v1.5-SHA256.</summary>
    public static byte[] AttestationKeyRsa2048()
    {
        var w = Header(TpmAlgorithm.Rsa, AttestationKeyAttributes, ReadOnlySpan<byte>.Empty);
        w.U16((ushort)TpmAlgorithm.Null);
        w.U16((ushort)TpmAlgorithm.RsaSsa).U16((ushort)TpmAlgorithm.Sha256);
        w.U16(RsaKeyBits).U32(0);                                       // exponent 0 = 65537
        w.U16(0);                                                       // unique empty
        return w.ToArray();
    }

    /// <summary>The RSA-2048 EK, template L-1 (unique = 256 zero bytes), as swtpm_setup and manufacturers create it.</summary>
    public static byte[] EndorsementKeyRsa2048()
    {
        var w = Header(TpmAlgorithm.Rsa, EndorsementKeyAttributes, EndorsementPolicySha256);
        w.U16((ushort)TpmAlgorithm.Aes).U16(AesKeyBits).U16((ushort)TpmAlgorithm.Cfb);
        w.U16((ushort)TpmAlgorithm.Null);
        w.U16(RsaKeyBits).U32(0);
        w.B2(new byte[RsaKeyBits / 8]);
        return w.ToArray();
    }

    /// <summary>The ECC NIST P-256 EK, template L-2 (unique x and y = 32 zero bytes each).</summary>
    public static byte[] EndorsementKeyEccP256()
    {
        var w = Header(TpmAlgorithm.Ecc, EndorsementKeyAttributes, EndorsementPolicySha256);
        w.U16((ushort)TpmAlgorithm.Aes).U16(AesKeyBits).U16((ushort)TpmAlgorithm.Cfb);
        w.U16((ushort)TpmAlgorithm.Null);
        w.U16((ushort)TpmEccCurve.NistP256);
        w.U16((ushort)TpmAlgorithm.Null);
        w.B2(new byte[EccP256CoordinateSize]).B2(new byte[EccP256CoordinateSize]);
        return w.ToArray();
    }

    private static TpmWriter Header(TpmAlgorithm type, TpmObjectAttributes attributes, ReadOnlySpan<byte> policy) =>
        new TpmWriter(400).U16((ushort)type).U16((ushort)TpmAlgorithm.Sha256).U32((uint)attributes).B2(policy);
}
