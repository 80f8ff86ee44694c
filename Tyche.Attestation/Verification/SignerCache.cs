// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tyche.Attestation.Verification;

/// <summary>
/// Parsed and checked report-signer certificates, keyed by the SHA-256 of their DER bytes, so that verifying many
/// reports from one monitor parses and checks its certificate once. Bounded; thread-safe.
/// </summary>
internal static class SignerCache
{
    private const int Capacity = 256;
    private static readonly ConcurrentDictionary<string, Entry> Entries = new();

    internal sealed class Entry
    {
        private readonly ECDsa _key;
        private readonly object _gate = new();

        public Entry(ECDsa key, byte[] issuer, byte[] serial, byte[] keyDigest, bool certificateOk, string problem)
        {
            _key = key;
            Issuer = issuer;
            Serial = serial;
            KeyDigest = keyDigest;
            CertificateOk = certificateOk;
            CertificateProblem = problem;
        }

        public byte[] Issuer { get; }
        public byte[] Serial { get; }
        public byte[] KeyDigest { get; }
        public bool CertificateOk { get; }
        public string CertificateProblem { get; }

        public bool Verify(ReadOnlySpan<byte> content, ReadOnlySpan<byte> derSignature)
        {
            lock (_gate) return _key.VerifyData(content, derSignature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
    }

    public static bool TryGet(ReadOnlyMemory<byte> certificate, out Entry? entry, out string reason)
    {
        string id = Convert.ToHexString(SHA256.HashData(certificate.Span));
        if (Entries.TryGetValue(id, out entry))
        {
            reason = string.Empty;
            return true;
        }

        try
        {
            using X509Certificate2 cert = X509CertificateLoader.LoadCertificate(certificate.Span);
            ECDsa? key = cert.GetECDsaPublicKey();
            if (key is null)
            {
                reason = "the signer certificate does not carry an ECDSA key";
                return false;
            }

            X509KeyUsageExtension? usage = cert.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
            bool usageOk = usage is null || (usage.KeyUsages & X509KeyUsageFlags.DigitalSignature) != 0;
            bool sizeOk = key.KeySize >= 256;
            bool selfSigned = CmsProfile.SelfSignatureValid(cert, key);
            string problem = !selfSigned ? "the signer certificate's self-signature does not verify"
                : !usageOk ? "the signer certificate's key usage does not include digitalSignature"
                : !sizeOk ? "the signer key is smaller than P-256" : string.Empty;
            entry = new Entry(key, cert.IssuerName.RawData, cert.SerialNumberBytes.ToArray(),
                SHA256.HashData(cert.PublicKey.ExportSubjectPublicKeyInfo()), problem.Length == 0, problem);
            if (Entries.Count >= Capacity) Entries.Clear();
            Entries[id] = entry;
            reason = string.Empty;
            return true;
        }
        catch (CryptographicException ex)
        {
            entry = null;
            reason = "the signer certificate does not parse: " + ex.Message;
            return false;
        }
    }
}
