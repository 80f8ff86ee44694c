// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;

namespace Tyche.Attestation;

/// <summary>
/// FOR TESTS ONLY — NOT A ROOT OF TRUST. An in-process imitation of a TPM: a software PCR and an ECDSA P-256 key in process
/// memory produce quotes in the TPM 2.0 wire format (TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE signed as a TPMT_SIGNATURE,
/// TPM 2.0 Part 2 §10.12.8 and §11.3.4), so the unchanged <see cref="AttestationVerifier"/> accepts them when the verifier pins
/// this key. Anyone who can run code in the process can forge these quotes: use it where swtpm or a real TPM is not available
/// (fast unit tests, demos), and say so wherever it is used.
/// </summary>
public sealed class SoftwareRootOfTrustForTests : IRootOfTrust, IDisposable
{
    private const int CoordinateSize = 32;
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly byte[] _publicArea;
    private readonly byte[] _pcr = new byte[SHA256.HashSizeInBytes];
    private ulong _clock;

    /// <summary>Creates the key and a PCR in its reset state.</summary>
    /// <param name="pcr">The PCR the monitor is measured into (default 23).</param>
    public SoftwareRootOfTrustForTests(int pcr = MeasuredLaunch.DefaultPcr)
    {
        Pcr = pcr;
        ECParameters parameters = _key.ExportParameters(includePrivateParameters: false);
        // The TPM's own attestation-key template with the unique field (TPMS_ECC_POINT x, y) filled in.
        byte[] template = TpmTemplates.AttestationKeyEccP256();
        TpmWriter area = new(template.Length + (2 * CoordinateSize));
        area.Bytes(template.AsSpan(0, template.Length - 4)).B2(parameters.Q.X).B2(parameters.Q.Y);
        _publicArea = area.ToArray();
        if (!TpmPublic.TryDecode(_publicArea, out TpmPublic? key, out int consumed) || consumed != _publicArea.Length)
        {
            throw new InvalidOperationException("The software attestation key's public area does not decode.");
        }

        TrustAnchors = new VerifierTrustAnchors(key!, key!.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement));
    }

    /// <inheritdoc />
    public string Description => "SOFTWARE root of trust for tests (no TPM: quotes are signed by a key in process memory)";

    /// <inheritdoc />
    public bool IsTpm => false;

    /// <inheritdoc />
    public int Pcr { get; }

    /// <inheritdoc />
    public VerifierTrustAnchors TrustAnchors { get; }

    /// <inheritdoc />
    public IReadOnlyList<MeasurementEvent> MeasureLaunch(ReadOnlySpan<byte> monitorImage, ReadOnlySpan<byte> monitorKeySubjectPublicKeyInfo)
    {
        Array.Clear(_pcr);
        byte[] image = SHA256.HashData(monitorImage);
        byte[] key = MeasuredLaunch.KeyDigest(monitorKeySubjectPublicKeyInfo);
        Extend(image);
        Extend(key);
        return [new MeasurementEvent(Pcr, MeasurementEventKind.MonitorImage, image), new MeasurementEvent(Pcr, MeasurementEventKind.MonitorAttestationKey, key)];
    }

    /// <inheritdoc />
    public RootOfTrustQuote Quote(ReadOnlySpan<byte> nonce)
    {
        TpmWriter attest = new(256);
        attest.U32(TpmAttestConstants.GeneratedMagic).U16((ushort)TpmStructureTag.AttestQuote)
            .B2(TrustAnchors.QualifiedName).B2(nonce)
            .U64(++_clock).U32(0).U32(0).U8(1) // TPMS_CLOCK_INFO: clock, resetCount, restartCount, safe
            .U64(0);                           // firmwareVersion
        PcrBankSelection.WriteList(attest, [PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr)]);
        attest.B2(SHA256.HashData(_pcr));      // TPMS_QUOTE_INFO.pcrDigest: H(selected PCR values in order)
        byte[] attestBytes = attest.ToArray();
        byte[] rs = _key.SignData(attestBytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        TpmWriter signature = new(8 + rs.Length);
        signature.U16((ushort)TpmAlgorithm.EcDsa).U16((ushort)TpmAlgorithm.Sha256)
            .B2(rs.AsSpan(0, CoordinateSize)).B2(rs.AsSpan(CoordinateSize));
        return new RootOfTrustQuote(new TpmQuote(attestBytes, signature.ToArray()),
            new SortedDictionary<int, byte[]> { [Pcr] = (byte[])_pcr.Clone() }, (byte[])_publicArea.Clone());
    }

    /// <summary>Destroys the key.</summary>
    public void Dispose() => _key.Dispose();

    private void Extend(ReadOnlySpan<byte> digest)
    {
        Span<byte> buffer = stackalloc byte[2 * SHA256.HashSizeInBytes];
        _pcr.CopyTo(buffer);
        digest.CopyTo(buffer[SHA256.HashSizeInBytes..]);
        SHA256.HashData(buffer, _pcr);
    }
}
