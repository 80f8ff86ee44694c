// SPDX-License-Identifier: Apache-2.0
using System;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tyche.Attestation.Reports;

/// <summary>
/// The monitor's attestation identity: an ECDSA P-256 key generated at boot from the OS RNG, and a self-signed
/// certificate for it. Its SubjectPublicKeyInfo digest is what measured launch extends into the TPM, which is how a
/// verifier knows the key belongs to the measured monitor (the certificate itself is not a trust anchor).
/// </summary>
public sealed class MonitorAttestationKey : IDisposable
{
    private MonitorAttestationKey(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The self-signed certificate, with the private key attached.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The SubjectPublicKeyInfo (DER) that is measured into the TPM.</summary>
    public byte[] SubjectPublicKeyInfo => Certificate.PublicKey.ExportSubjectPublicKeyInfo();

    /// <summary>Generates a fresh key and certificate valid for <paramref name="validity"/> from now.</summary>
    public static MonitorAttestationKey Generate(string subjectName = "CN=Tyche monitor attestation key", TimeSpan? validity = null)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subjectName, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        X509Certificate2 cert = request.CreateSelfSigned(now.AddMinutes(-5), now + (validity ?? TimeSpan.FromDays(1)));
        return new MonitorAttestationKey(cert);
    }

    /// <inheritdoc/>
    public void Dispose() => Certificate.Dispose();
}

/// <summary>
/// Signs encoded reports as CMS SignedData (RFC 5652) with the monitor's certificate, in the fixed profile documented
/// in docs/attestation.md: content type id-data, attached content, SHA-256, ECDSA, no signed attributes, signer
/// identified by issuer and serial number, signer certificate included, strict DER. <c>openssl cms -verify</c> and
/// .NET's SignedCms both accept the result. The private key handle is opened once.
/// </summary>
public sealed class ReportSigner : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly ECDsa _privateKey;

    /// <summary>Creates a signer for the given monitor key.</summary>
    public ReportSigner(MonitorAttestationKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _certificate = key.Certificate;
        _privateKey = key.Certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("The monitor certificate has no ECDSA private key.", nameof(key));
    }

    /// <summary>Encodes and signs a report.</summary>
    public byte[] Sign(AttestationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return SignEncoded(report.Encode());
    }

    /// <summary>Signs already encoded report bytes.</summary>
    public byte[] SignEncoded(ReadOnlySpan<byte> encodedReport)
    {
        byte[] signature = _privateKey.SignData(encodedReport, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return Verification.CmsProfile.Write(encodedReport, _certificate, signature);
    }

    /// <inheritdoc/>
    public void Dispose() => _privateKey.Dispose();
}
