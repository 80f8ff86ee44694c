// SPDX-License-Identifier: Apache-2.0
using System;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Tyche.Attestation.Tpm;

/// <summary>A credential challenge made for one (EK, AK Name) pair, to be answered by TPM2_ActivateCredential.</summary>
/// <param name="CredentialBlob">TPM2B_ID_OBJECT contents: integrity HMAC (as TPM2B_DIGEST) followed by the encrypted credential.</param>
/// <param name="EncryptedSecret">TPM2B_ENCRYPTED_SECRET contents: the seed encrypted to the EK.</param>
public sealed record CredentialChallenge(byte[] CredentialBlob, byte[] EncryptedSecret);

/// <summary>
/// TPM2_MakeCredential computed in managed code by the verifier, as a real relying party does (TPM 2.0 Library
/// Part 1 §24 "Credential Protection", §11.4.10 KDFa/KDFe, Annex B.10.3 RSA-OAEP and Annex C.6.1 ECDH secret sharing). Only the TPM holding
/// the EK's private key and a loaded object with the given Name can recover the credential.
/// </summary>
public static class TpmCredential
{
    // Part 1 §24.4 / Annex B.10.4: OAEP label and KDF labels include the terminating zero byte.
    private static readonly byte[] IdentityLabel = Encoding.ASCII.GetBytes("IDENTITY\0");
    private static readonly byte[] StorageLabel = Encoding.ASCII.GetBytes("STORAGE\0");
    private static readonly byte[] IntegrityLabel = Encoding.ASCII.GetBytes("INTEGRITY\0");
    private const int SymmetricKeyBits = 128;
    private const int AesBlock = 16;

    /// <summary>Makes a credential for <paramref name="objectName"/> protected by an RSA or ECC endorsement key.</summary>
    /// <param name="endorsementKey">The EK public area (RSA-2048 or ECC, restricted decrypt, AES-128 CFB symmetric).</param>
    /// <param name="objectName">The Name of the key that must be loaded next to the EK (the AK).</param>
    /// <param name="credential">The secret (at most 32 bytes) the TPM will return when it activates the credential.</param>
    public static CredentialChallenge Make(TpmPublic endorsementKey, ReadOnlySpan<byte> objectName, ReadOnlySpan<byte> credential)
    {
        ArgumentNullException.ThrowIfNull(endorsementKey);
        if ((endorsementKey.Attributes & (TpmObjectAttributes.Restricted | TpmObjectAttributes.Decrypt)) != (TpmObjectAttributes.Restricted | TpmObjectAttributes.Decrypt))
        {
            throw new ArgumentException("The endorsement key must be a restricted decryption key.", nameof(endorsementKey));
        }

        if (credential.Length is 0 or > 32) throw new ArgumentException("The credential must be 1..32 bytes.", nameof(credential));
        byte[] seed;
        byte[] encryptedSecret;
        if (endorsementKey.Type == TpmAlgorithm.Rsa)
        {
            seed = RandomNumberGenerator.GetBytes(SHA256.HashSizeInBytes);
            using RSA rsa = endorsementKey.CreateRsa();
            encryptedSecret = RsaOaepSha256WithLabel(rsa, seed, IdentityLabel);
        }
        else
        {
            (seed, encryptedSecret) = EcdhSeed(endorsementKey);
        }

        byte[] symKey = KdfA(seed, StorageLabel, objectName, ReadOnlySpan<byte>.Empty, SymmetricKeyBits);
        byte[] hmacKey = KdfA(seed, IntegrityLabel, ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, SHA256.HashSizeInBits);

        // encIdentity = CFB_symKey(IV = 0, TPM2B_DIGEST(credential)).
        byte[] plain = new byte[2 + credential.Length];
        BinaryPrimitives.WriteUInt16BigEndian(plain, (ushort)credential.Length);
        credential.CopyTo(plain.AsSpan(2));
        byte[] encIdentity = AesCfbEncrypt(symKey, plain);

        // outerHMAC = HMAC_hmacKey(encIdentity || Name).
        byte[] hmacInput = new byte[encIdentity.Length + objectName.Length];
        encIdentity.CopyTo(hmacInput, 0);
        objectName.CopyTo(hmacInput.AsSpan(encIdentity.Length));
        byte[] outerHmac = HMACSHA256.HashData(hmacKey, hmacInput);

        byte[] blob = new byte[2 + outerHmac.Length + encIdentity.Length];
        BinaryPrimitives.WriteUInt16BigEndian(blob, (ushort)outerHmac.Length);
        outerHmac.CopyTo(blob, 2);
        encIdentity.CopyTo(blob, 2 + outerHmac.Length);
        CryptographicOperations.ZeroMemory(seed);
        CryptographicOperations.ZeroMemory(symKey);
        CryptographicOperations.ZeroMemory(hmacKey);
        return new CredentialChallenge(blob, encryptedSecret);
    }

    /// <summary>
    /// ECC secret sharing (Part 1 Annex C.6.1): an ephemeral key pair on the EK's curve, Z = x(d_e · Q_EK),
    /// seed = KDFe(Z, "IDENTITY", x(Q_e), x(Q_EK)); the encrypted secret is the marshalled TPMS_ECC_POINT Q_e.
    /// </summary>
    private static (byte[] Seed, byte[] EncryptedSecret) EcdhSeed(TpmPublic ek)
    {
        ECParameters ekParameters = ek.ToEcParameters();
        using ECDiffieHellman ephemeral = ECDiffieHellman.Create(ekParameters.Curve);
        using ECDiffieHellman peer = ECDiffieHellman.Create(ekParameters);
        byte[] z = ephemeral.DeriveRawSecretAgreement(peer.PublicKey);
        ECParameters e = ephemeral.ExportParameters(false);
        byte[] seed = KdfE(z, IdentityLabel, e.Q.X!, ekParameters.Q.X!, SHA256.HashSizeInBits);
        byte[] point = new byte[4 + e.Q.X!.Length + e.Q.Y!.Length];
        BinaryPrimitives.WriteUInt16BigEndian(point, (ushort)e.Q.X.Length);
        e.Q.X.CopyTo(point, 2);
        BinaryPrimitives.WriteUInt16BigEndian(point.AsSpan(2 + e.Q.X.Length), (ushort)e.Q.Y.Length);
        e.Q.Y.CopyTo(point, 4 + e.Q.X.Length);
        CryptographicOperations.ZeroMemory(z);
        return (seed, point);
    }

    /// <summary>KDFe with SHA-256 (Part 1 §11.4.10.3): counter-mode hash over <c>i || Z || label || partyU || partyV</c>.</summary>
    public static byte[] KdfE(ReadOnlySpan<byte> z, ReadOnlySpan<byte> labelWithZero, ReadOnlySpan<byte> partyU, ReadOnlySpan<byte> partyV, int bits)
    {
        int bytes = (bits + 7) / 8;
        byte[] output = new byte[bytes];
        byte[] input = new byte[4 + z.Length + labelWithZero.Length + partyU.Length + partyV.Length];
        int offset = 4;
        z.CopyTo(input.AsSpan(offset)); offset += z.Length;
        labelWithZero.CopyTo(input.AsSpan(offset)); offset += labelWithZero.Length;
        partyU.CopyTo(input.AsSpan(offset)); offset += partyU.Length;
        partyV.CopyTo(input.AsSpan(offset));
        Span<byte> block = stackalloc byte[SHA256.HashSizeInBytes];
        int written = 0;
        for (uint counter = 1; written < bytes; counter++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(input, counter);
            SHA256.HashData(input, block);
            int n = Math.Min(block.Length, bytes - written);
            block[..n].CopyTo(output.AsSpan(written));
            written += n;
        }

        return output;
    }

    /// <summary>KDFa with SHA-256 (Part 1 §11.4.10.2): counter-mode HMAC over <c>i || label || contextU || contextV || bits</c>.</summary>
    public static byte[] KdfA(ReadOnlySpan<byte> key, ReadOnlySpan<byte> labelWithZero, ReadOnlySpan<byte> contextU, ReadOnlySpan<byte> contextV, int bits)
    {
        int bytes = (bits + 7) / 8;
        byte[] output = new byte[bytes];
        byte[] input = new byte[4 + labelWithZero.Length + contextU.Length + contextV.Length + 4];
        labelWithZero.CopyTo(input.AsSpan(4));
        contextU.CopyTo(input.AsSpan(4 + labelWithZero.Length));
        contextV.CopyTo(input.AsSpan(4 + labelWithZero.Length + contextU.Length));
        BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(input.Length - 4), (uint)bits);
        Span<byte> block = stackalloc byte[SHA256.HashSizeInBytes];
        int written = 0;
        for (uint counter = 1; written < bytes; counter++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(input, counter);
            HMACSHA256.HashData(key, input, block);
            int n = Math.Min(block.Length, bytes - written);
            block[..n].CopyTo(output.AsSpan(written));
            written += n;
        }

        return output;
    }

    /// <summary>AES-CFB128 encryption with a zero IV and no padding (any length), built on single-block ECB.</summary>
    internal static byte[] AesCfbEncrypt(byte[] key, ReadOnlySpan<byte> plain)
    {
        using var aes = Aes.Create();
        aes.Key = key;
        byte[] output = new byte[plain.Length];
        Span<byte> feedback = stackalloc byte[AesBlock];
        Span<byte> keystream = stackalloc byte[AesBlock];
        feedback.Clear();
        for (int offset = 0; offset < plain.Length; offset += AesBlock)
        {
            aes.EncryptEcb(feedback, keystream, PaddingMode.None);
            int n = Math.Min(AesBlock, plain.Length - offset);
            for (int i = 0; i < n; i++) output[offset + i] = (byte)(plain[offset + i] ^ keystream[i]);
            if (n == AesBlock) output.AsSpan(offset, AesBlock).CopyTo(feedback);
        }

        return output;
    }

    /// <summary>RSA-OAEP (SHA-256, MGF1-SHA-256) with a label, which .NET's RSA.Encrypt does not expose (RFC 8017 §7.1.1).</summary>
    internal static byte[] RsaOaepSha256WithLabel(RSA rsa, ReadOnlySpan<byte> message, ReadOnlySpan<byte> label)
    {
        int k = rsa.KeySize / 8;
        const int hLen = 32;
        if (message.Length > k - 2 * hLen - 2) throw new CryptographicException("Message too long for OAEP.");
        byte[] em = new byte[k];
        Span<byte> seed = em.AsSpan(1, hLen);
        Span<byte> db = em.AsSpan(1 + hLen);
        SHA256.HashData(label, db[..hLen]);
        db[db.Length - message.Length - 1] = 0x01;
        message.CopyTo(db[(db.Length - message.Length)..]);
        RandomNumberGenerator.Fill(seed);
        Mgf1Xor(seed, db);
        Mgf1Xor(db, seed);
        // Raw RSA (m^e mod n) via the BigInteger form of the public key.
        RSAParameters p = rsa.ExportParameters(false);
        var n = new System.Numerics.BigInteger(p.Modulus, isUnsigned: true, isBigEndian: true);
        var e = new System.Numerics.BigInteger(p.Exponent, isUnsigned: true, isBigEndian: true);
        var m = new System.Numerics.BigInteger(em, isUnsigned: true, isBigEndian: true);
        byte[] c = System.Numerics.BigInteger.ModPow(m, e, n).ToByteArray(isUnsigned: true, isBigEndian: true);
        return TpmPublic.LeftPad(c, k);
    }

    private static void Mgf1Xor(ReadOnlySpan<byte> seed, Span<byte> target)
    {
        byte[] input = new byte[seed.Length + 4];
        seed.CopyTo(input);
        Span<byte> block = stackalloc byte[32];
        for (uint counter = 0, offset = 0; offset < target.Length; counter++, offset += 32)
        {
            BinaryPrimitives.WriteUInt32BigEndian(input.AsSpan(seed.Length), counter);
            SHA256.HashData(input, block);
            int n = Math.Min(32, target.Length - (int)offset);
            for (int i = 0; i < n; i++) target[(int)offset + i] ^= block[i];
        }
    }
}
