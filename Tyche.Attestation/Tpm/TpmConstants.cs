// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Attestation.Tpm;

/// <summary>TPM 2.0 command codes used by this library (TPM 2.0 Library Part 2 §6.5.2, TPM_CC).</summary>
public enum TpmCommandCode : uint
{
    /// <summary>TPM2_NV_Read.</summary>
    NvRead = 0x0000_014E,
    /// <summary>TPM2_CreatePrimary.</summary>
    CreatePrimary = 0x0000_0131,
    /// <summary>TPM2_Startup.</summary>
    Startup = 0x0000_0144,
    /// <summary>TPM2_Shutdown.</summary>
    Shutdown = 0x0000_0145,
    /// <summary>TPM2_ActivateCredential.</summary>
    ActivateCredential = 0x0000_0147,
    /// <summary>TPM2_PolicySecret.</summary>
    PolicySecret = 0x0000_0151,
    /// <summary>TPM2_Quote.</summary>
    Quote = 0x0000_0158,
    /// <summary>TPM2_FlushContext.</summary>
    FlushContext = 0x0000_0165,
    /// <summary>TPM2_MakeCredential.</summary>
    MakeCredential = 0x0000_0168,
    /// <summary>TPM2_NV_ReadPublic.</summary>
    NvReadPublic = 0x0000_0169,
    /// <summary>TPM2_ReadPublic.</summary>
    ReadPublic = 0x0000_0173,
    /// <summary>TPM2_StartAuthSession.</summary>
    StartAuthSession = 0x0000_0176,
    /// <summary>TPM2_GetCapability.</summary>
    GetCapability = 0x0000_017A,
    /// <summary>TPM2_PCR_Read.</summary>
    PcrRead = 0x0000_017E,
    /// <summary>TPM2_PCR_Extend.</summary>
    PcrExtend = 0x0000_0182,
    /// <summary>TPM2_PCR_Reset.</summary>
    PcrReset = 0x0000_013D,
}

/// <summary>TPM 2.0 structure tags (Part 2 §6.9, TPM_ST).</summary>
public enum TpmStructureTag : ushort
{
    /// <summary>TPM_ST_RSP_COMMAND: a TPM 1.2-style error response (bad tag).</summary>
    ResponseCommand = 0x00C4,
    /// <summary>TPM_ST_NULL.</summary>
    Null = 0x8000,
    /// <summary>TPM_ST_NO_SESSIONS.</summary>
    NoSessions = 0x8001,
    /// <summary>TPM_ST_SESSIONS.</summary>
    Sessions = 0x8002,
    /// <summary>TPM_ST_ATTEST_CERTIFY.</summary>
    AttestCertify = 0x8017,
    /// <summary>TPM_ST_ATTEST_QUOTE.</summary>
    AttestQuote = 0x8018,
    /// <summary>TPM_ST_CREATION.</summary>
    Creation = 0x8021,
    /// <summary>TPM_ST_AUTH_SECRET (policy ticket).</summary>
    AuthSecret = 0x8023,
}

/// <summary>TPM 2.0 algorithm identifiers (TCG Algorithm Registry, TPM_ALG_ID).</summary>
public enum TpmAlgorithm : ushort
{
    /// <summary>TPM_ALG_ERROR.</summary>
    Error = 0x0000,
    /// <summary>TPM_ALG_RSA.</summary>
    Rsa = 0x0001,
    /// <summary>TPM_ALG_SHA1.</summary>
    Sha1 = 0x0004,
    /// <summary>TPM_ALG_HMAC.</summary>
    Hmac = 0x0005,
    /// <summary>TPM_ALG_AES.</summary>
    Aes = 0x0006,
    /// <summary>TPM_ALG_KEYEDHASH.</summary>
    KeyedHash = 0x0008,
    /// <summary>TPM_ALG_SHA256.</summary>
    Sha256 = 0x000B,
    /// <summary>TPM_ALG_SHA384.</summary>
    Sha384 = 0x000C,
    /// <summary>TPM_ALG_SHA512.</summary>
    Sha512 = 0x000D,
    /// <summary>TPM_ALG_NULL.</summary>
    Null = 0x0010,
    /// <summary>TPM_ALG_RSASSA (PKCS#1 v1.5 signatures).</summary>
    RsaSsa = 0x0014,
    /// <summary>TPM_ALG_RSAES.</summary>
    RsaEs = 0x0015,
    /// <summary>TPM_ALG_RSAPSS.</summary>
    RsaPss = 0x0016,
    /// <summary>TPM_ALG_OAEP.</summary>
    Oaep = 0x0017,
    /// <summary>TPM_ALG_ECDSA.</summary>
    EcDsa = 0x0018,
    /// <summary>TPM_ALG_ECDH.</summary>
    EcDh = 0x0019,
    /// <summary>TPM_ALG_ECC.</summary>
    Ecc = 0x0023,
    /// <summary>TPM_ALG_SYMCIPHER.</summary>
    SymCipher = 0x0025,
    /// <summary>TPM_ALG_CFB.</summary>
    Cfb = 0x0043,
}

/// <summary>TPM 2.0 ECC curve identifiers (Part 2 §6.4, TPM_ECC_CURVE).</summary>
public enum TpmEccCurve : ushort
{
    /// <summary>TPM_ECC_NONE.</summary>
    None = 0x0000,
    /// <summary>TPM_ECC_NIST_P256.</summary>
    NistP256 = 0x0003,
    /// <summary>TPM_ECC_NIST_P384.</summary>
    NistP384 = 0x0004,
    /// <summary>TPM_ECC_NIST_P521.</summary>
    NistP521 = 0x0005,
}

/// <summary>Object attributes of a TPMT_PUBLIC (Part 2 §8.3, TPMA_OBJECT).</summary>
[Flags]
public enum TpmObjectAttributes : uint
{
    /// <summary>No attribute.</summary>
    None = 0,
    /// <summary>fixedTPM (bit 1): the object cannot be duplicated out of this TPM.</summary>
    FixedTpm = 1u << 1,
    /// <summary>stClear (bit 2).</summary>
    StClear = 1u << 2,
    /// <summary>fixedParent (bit 4).</summary>
    FixedParent = 1u << 4,
    /// <summary>sensitiveDataOrigin (bit 5): the TPM generated the private part.</summary>
    SensitiveDataOrigin = 1u << 5,
    /// <summary>userWithAuth (bit 6).</summary>
    UserWithAuth = 1u << 6,
    /// <summary>adminWithPolicy (bit 7).</summary>
    AdminWithPolicy = 1u << 7,
    /// <summary>noDA (bit 10): not subject to dictionary-attack lockout.</summary>
    NoDictionaryAttack = 1u << 10,
    /// <summary>encryptedDuplication (bit 11).</summary>
    EncryptedDuplication = 1u << 11,
    /// <summary>restricted (bit 16): signs only TPM-generated structures (for a signing key).</summary>
    Restricted = 1u << 16,
    /// <summary>decrypt (bit 17).</summary>
    Decrypt = 1u << 17,
    /// <summary>sign / encrypt (bit 18).</summary>
    Sign = 1u << 18,
}

/// <summary>Reserved and hierarchy handles (Part 2 §7.4, TPM_RH / TPM_RS).</summary>
public static class TpmHandles
{
    /// <summary>TPM_RH_OWNER (storage hierarchy).</summary>
    public const uint Owner = 0x4000_0001;
    /// <summary>TPM_RH_NULL.</summary>
    public const uint Null = 0x4000_0007;
    /// <summary>TPM_RS_PW: the password authorization session.</summary>
    public const uint PasswordSession = 0x4000_0009;
    /// <summary>TPM_RH_ENDORSEMENT.</summary>
    public const uint Endorsement = 0x4000_000B;
    /// <summary>TPM_RH_PLATFORM.</summary>
    public const uint Platform = 0x4000_000C;
    /// <summary>Persistent handle of the RSA-2048 EK (TCG EK Credential Profile 2.0 §2.2.1.4; swtpm_setup).</summary>
    public const uint RsaEkPersistent = 0x8101_0001;
    /// <summary>NV index of the RSA-2048 EK certificate (TCG EK Credential Profile 2.0 §2.2.1.4).</summary>
    public const uint RsaEkCertificateNvIndex = 0x01C0_0002;
    /// <summary>NV index of the ECC NIST P-256 EK certificate (TCG EK Credential Profile 2.0 §2.2.1.4).</summary>
    public const uint EccEkCertificateNvIndex = 0x01C0_000A;
}

/// <summary>Capability selectors of TPM2_GetCapability (Part 2 §6.12, TPM_CAP) and properties (§6.13, TPM_PT).</summary>
public static class TpmCapabilities
{
    /// <summary>TPM_CAP_HANDLES.</summary>
    public const uint Handles = 0x0000_0001;
    /// <summary>TPM_CAP_PCRS (active PCR banks).</summary>
    public const uint Pcrs = 0x0000_0005;
    /// <summary>TPM_CAP_TPM_PROPERTIES.</summary>
    public const uint TpmProperties = 0x0000_0006;
    /// <summary>TPM_PT_MANUFACTURER (PT_FIXED + 5).</summary>
    public const uint PropertyManufacturer = 0x0000_0105;
    /// <summary>TPM_PT_FIRMWARE_VERSION_1 (PT_FIXED + 11).</summary>
    public const uint PropertyFirmwareVersion1 = 0x0000_010B;
    /// <summary>TPM_PT_FIRMWARE_VERSION_2 (PT_FIXED + 12).</summary>
    public const uint PropertyFirmwareVersion2 = 0x0000_010C;
    /// <summary>Handle-type prefix of persistent objects (TPM_HT_PERSISTENT &lt;&lt; 24).</summary>
    public const uint PersistentHandleFirst = 0x8100_0000;
}

/// <summary>Well-known constants of TPMS_ATTEST (Part 2 §10.12.8).</summary>
public static class TpmAttestConstants
{
    /// <summary>TPM_GENERATED_VALUE: the magic that proves a structure was produced inside a TPM.</summary>
    public const uint GeneratedMagic = 0xFF54_4347;
}
