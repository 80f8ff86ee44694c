// SPDX-License-Identifier: Apache-2.0
using System;
using System.Security.Cryptography;

namespace Tyche.Attestation.Tpm;

/// <summary>
/// A parsed TPMT_PUBLIC (TPM 2.0 Library Part 2 §12.2.4) of an RSA or ECC key, with its raw bytes kept for the Name
/// (never re-marshalled). Only the fields attestation needs are exposed.
/// </summary>
public sealed class TpmPublic
{
    private readonly byte[] _raw;

    private TpmPublic(byte[] raw) => _raw = raw;

    /// <summary>The exact TPMT_PUBLIC bytes the TPM returned.</summary>
    public ReadOnlySpan<byte> Raw => _raw;

    /// <summary>TPM_ALG_RSA or TPM_ALG_ECC.</summary>
    public TpmAlgorithm Type { get; private init; }

    /// <summary>The name algorithm (SHA-256 for every template in this library).</summary>
    public TpmAlgorithm NameAlgorithm { get; private init; }

    /// <summary>The object attributes.</summary>
    public TpmObjectAttributes Attributes { get; private init; }

    /// <summary>The authorization policy digest (empty for an attestation key).</summary>
    public ReadOnlyMemory<byte> AuthPolicy { get; private init; }

    /// <summary>The symmetric algorithm of a storage/decryption key, or TPM_ALG_NULL.</summary>
    public TpmAlgorithm SymmetricAlgorithm { get; private init; }

    /// <summary>The key's signing or encryption scheme, or TPM_ALG_NULL.</summary>
    public TpmAlgorithm Scheme { get; private init; }

    /// <summary>The scheme's hash algorithm, or TPM_ALG_NULL.</summary>
    public TpmAlgorithm SchemeHash { get; private init; }

    /// <summary>RSA modulus size in bits (RSA only).</summary>
    public int RsaKeyBits { get; private init; }

    /// <summary>RSA public exponent; 0 in the structure means 65537 (RSA only).</summary>
    public uint RsaExponent { get; private init; }

    /// <summary>RSA modulus (RSA only).</summary>
    public ReadOnlyMemory<byte> Modulus { get; private init; }

    /// <summary>ECC curve (ECC only).</summary>
    public TpmEccCurve Curve { get; private init; }

    /// <summary>ECC point X (ECC only).</summary>
    public ReadOnlyMemory<byte> EccX { get; private init; }

    /// <summary>ECC point Y (ECC only).</summary>
    public ReadOnlyMemory<byte> EccY { get; private init; }

    /// <summary>The object's Name: <c>nameAlg || H_nameAlg(TPMT_PUBLIC)</c> (Part 1 §16).</summary>
    public byte[] ComputeName()
    {
        byte[] name = new byte[2 + 32];
        name[0] = (byte)((ushort)TpmAlgorithm.Sha256 >> 8);
        name[1] = (byte)TpmAlgorithm.Sha256;
        SHA256.HashData(_raw, name.AsSpan(2));
        return name;
    }

    /// <summary>
    /// The qualified name of a primary object in <paramref name="hierarchy"/>:
    /// <c>nameAlg || H(QN(hierarchy) || Name)</c>, where the QN of a hierarchy is its 4-byte handle (Part 1 §16).
    /// </summary>
    public byte[] ComputeQualifiedNameAsPrimary(uint hierarchy)
    {
        Span<byte> parentQn = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(parentQn, hierarchy);
        return TpmNames.Qualify(parentQn, ComputeName());
    }

    /// <summary>Whether the key has the attributes a quote-signing attestation key must have.</summary>
    public bool IsRestrictedSigningKey =>
        (Attributes & (TpmObjectAttributes.Restricted | TpmObjectAttributes.Sign | TpmObjectAttributes.FixedTpm |
                       TpmObjectAttributes.FixedParent | TpmObjectAttributes.SensitiveDataOrigin)) ==
        (TpmObjectAttributes.Restricted | TpmObjectAttributes.Sign | TpmObjectAttributes.FixedTpm |
         TpmObjectAttributes.FixedParent | TpmObjectAttributes.SensitiveDataOrigin) &&
        (Attributes & TpmObjectAttributes.Decrypt) == 0;

    /// <summary>Creates a .NET ECDSA key (ECC keys only; caller disposes).</summary>
    public ECDsa CreateECDsa()
    {
        if (Type != TpmAlgorithm.Ecc) throw new InvalidOperationException("Not an ECC key.");
        return ECDsa.Create(ToEcParameters());
    }

    /// <summary>Creates a .NET RSA key (RSA keys only; caller disposes).</summary>
    public RSA CreateRsa()
    {
        if (Type != TpmAlgorithm.Rsa) throw new InvalidOperationException("Not an RSA key.");
        return RSA.Create(ToRsaParameters());
    }

    /// <summary>The key as an X.509 SubjectPublicKeyInfo (DER), for comparison with certificates.</summary>
    public byte[] ExportSubjectPublicKeyInfo()
    {
        if (Type == TpmAlgorithm.Ecc)
        {
            using ECDsa ec = CreateECDsa();
            return ec.ExportSubjectPublicKeyInfo();
        }

        using RSA rsa = CreateRsa();
        return rsa.ExportSubjectPublicKeyInfo();
    }

    internal ECParameters ToEcParameters()
    {
        ECCurve curve = Curve switch
        {
            TpmEccCurve.NistP256 => ECCurve.NamedCurves.nistP256,
            TpmEccCurve.NistP384 => ECCurve.NamedCurves.nistP384,
            TpmEccCurve.NistP521 => ECCurve.NamedCurves.nistP521,
            _ => throw new CryptographicException($"Unsupported TPM curve 0x{(ushort)Curve:X4}."),
        };
        int size = CurveSize(Curve);
        return new ECParameters
        {
            Curve = curve,
            Q = new ECPoint { X = LeftPad(EccX.Span, size), Y = LeftPad(EccY.Span, size) },
        };
    }

    internal RSAParameters ToRsaParameters()
    {
        uint e = RsaExponent == 0 ? 65537u : RsaExponent;
        byte[] exponent = [(byte)(e >> 24), (byte)(e >> 16), (byte)(e >> 8), (byte)e];
        int skip = 0;
        while (skip < 3 && exponent[skip] == 0) skip++;
        return new RSAParameters { Modulus = Modulus.ToArray(), Exponent = exponent[skip..] };
    }

    internal static int CurveSize(TpmEccCurve curve) => curve switch
    {
        TpmEccCurve.NistP256 => 32,
        TpmEccCurve.NistP384 => 48,
        TpmEccCurve.NistP521 => 66,
        _ => 0,
    };

    internal static byte[] LeftPad(ReadOnlySpan<byte> value, int size)
    {
        if (value.Length >= size) return value[^size..].ToArray();
        byte[] r = new byte[size];
        value.CopyTo(r.AsSpan(size - value.Length));
        return r;
    }

    /// <summary>Decodes a TPM2B_PUBLIC (UINT16 size, then exactly that many TPMT_PUBLIC bytes).</summary>
    public static bool TryDecodeSized(ReadOnlySpan<byte> data, out TpmPublic? value, out int consumed)
    {
        value = null;
        consumed = 0;
        if (data.Length < 2) return false;
        int size = (data[0] << 8) | data[1];
        if (size == 0 || data.Length - 2 < size) return false;
        if (!TryDecode(data.Slice(2, size), out value, out int inner) || inner != size)
        {
            value = null;
            return false;
        }

        consumed = 2 + size;
        return true;
    }

    /// <summary>
    /// Decodes a TPMT_PUBLIC of type RSA or ECC. Returns false (never throws) on truncation, unknown algorithms or
    /// inconsistent sizes; <paramref name="consumed"/> is the number of bytes the structure occupies.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out TpmPublic? value, out int consumed)
    {
        value = null;
        consumed = 0;
        var r = new TpmReader(data);
        var type = (TpmAlgorithm)r.U16();
        var nameAlg = (TpmAlgorithm)r.U16();
        var attrs = (TpmObjectAttributes)r.U32();
        ReadOnlySpan<byte> policy = r.B2(64);
        if (!r.Ok || nameAlg != TpmAlgorithm.Sha256) return false;
        var sym = (TpmAlgorithm)r.U16();
        if (sym != TpmAlgorithm.Null)
        {
            r.U16(); // keyBits
            r.U16(); // mode
        }

        var scheme = (TpmAlgorithm)r.U16();
        var schemeHash = TpmAlgorithm.Null;
        if (scheme != TpmAlgorithm.Null) schemeHash = (TpmAlgorithm)r.U16();
        if (!r.Ok) return false;

        if (type == TpmAlgorithm.Rsa)
        {
            if (scheme is not (TpmAlgorithm.Null or TpmAlgorithm.RsaSsa or TpmAlgorithm.RsaPss or TpmAlgorithm.Oaep or TpmAlgorithm.RsaEs)) return false;
            ushort bits = r.U16();
            uint exponent = r.U32();
            ReadOnlySpan<byte> modulus = r.B2(512);
            if (!r.Ok || bits is not (1024 or 2048 or 3072 or 4096)) return false;
            // The unique field of a key template may be empty or zero-filled; of a created key it is the modulus.
            if (modulus.Length != bits / 8) return false;
            consumed = r.Position;
            value = new TpmPublic(data[..consumed].ToArray())
            {
                Type = type, NameAlgorithm = nameAlg, Attributes = attrs, AuthPolicy = policy.ToArray(),
                SymmetricAlgorithm = sym, Scheme = scheme, SchemeHash = schemeHash,
                RsaKeyBits = bits, RsaExponent = exponent, Modulus = modulus.ToArray(),
            };
            return true;
        }

        if (type == TpmAlgorithm.Ecc)
        {
            if (scheme is not (TpmAlgorithm.Null or TpmAlgorithm.EcDsa or TpmAlgorithm.EcDh)) return false;
            var curve = (TpmEccCurve)r.U16();
            var kdf = (TpmAlgorithm)r.U16();
            if (kdf != TpmAlgorithm.Null) r.U16();
            ReadOnlySpan<byte> x = r.B2(66);
            ReadOnlySpan<byte> y = r.B2(66);
            int size = CurveSize(curve);
            if (!r.Ok || size == 0 || x.Length == 0 || y.Length == 0 || x.Length > size || y.Length > size) return false;
            consumed = r.Position;
            value = new TpmPublic(data[..consumed].ToArray())
            {
                Type = type, NameAlgorithm = nameAlg, Attributes = attrs, AuthPolicy = policy.ToArray(),
                SymmetricAlgorithm = sym, Scheme = scheme, SchemeHash = schemeHash,
                Curve = curve, EccX = x.ToArray(), EccY = y.ToArray(),
            };
            return true;
        }

        return false;
    }
}

/// <summary>Name arithmetic (TPM 2.0 Library Part 1 §16).</summary>
public static class TpmNames
{
    /// <summary>Computes <c>000B || SHA-256(parentQualifiedName || name)</c>.</summary>
    public static byte[] Qualify(ReadOnlySpan<byte> parentQualifiedName, ReadOnlySpan<byte> name)
    {
        byte[] buffer = new byte[parentQualifiedName.Length + name.Length];
        parentQualifiedName.CopyTo(buffer);
        name.CopyTo(buffer.AsSpan(parentQualifiedName.Length));
        byte[] qn = new byte[34];
        qn[0] = (byte)((ushort)TpmAlgorithm.Sha256 >> 8);
        qn[1] = (byte)TpmAlgorithm.Sha256;
        SHA256.HashData(buffer, qn.AsSpan(2));
        return qn;
    }
}
