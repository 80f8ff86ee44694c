// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;

namespace Tyche.Attestation.Tests;

/// <summary>The managed TPM command layer and the quote verifier against a real swtpm (and a second one).</summary>
public sealed class TpmQuoteTests : IClassFixture<SwtpmFixture>, IClassFixture<SecondSwtpmFixture>
{
    private const int Pcr = 23;
    private readonly SwtpmFixture _swtpm;
    private readonly SwtpmFixture _other;

    public TpmQuoteTests(SwtpmFixture swtpm, SecondSwtpmFixture other)
    {
        _swtpm = swtpm;
        _other = other.Tpm;
    }

    public enum KeyKind
    {
        Ecc,
        Rsa,
    }

    private static byte[] Template(KeyKind kind) => kind == KeyKind.Ecc ? TpmTemplates.AttestationKeyEccP256() : TpmTemplates.AttestationKeyRsa2048();

    private sealed class QuoteSetup
    {
        public required TpmObject Ak;
        public required byte[] Nonce;
        public required TpmQuote Quote;
        public required SortedDictionary<int, byte[]> Pcrs;
        public required PcrBankSelection Selection;
    }

    private static QuoteSetup MakeQuote(Tpm2 tpm, KeyKind kind, PcrBankSelection? selection = null)
    {
        tpm.PcrReset(Pcr);
        tpm.PcrExtend(Pcr, SHA256.HashData("monitor image"u8));
        TpmObject ak = tpm.CreatePrimary(TpmHandles.Endorsement, Template(kind));
        try
        {
            PcrBankSelection sel = selection ?? PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr);
            byte[] nonce = RandomNumberGenerator.GetBytes(32);
            TpmQuote quote = tpm.Quote(ak.Handle, nonce, [sel]);
            return new QuoteSetup { Ak = ak, Nonce = nonce, Quote = quote, Pcrs = tpm.PcrRead(sel), Selection = sel };
        }
        finally
        {
            tpm.FlushContext(ak.Handle);
        }
    }

    private static VerificationResult Verify(QuoteSetup s, byte[]? nonce = null, TpmQuote? quote = null, PcrBankSelection? expected = null,
        IReadOnlyDictionary<int, byte[]>? pcrs = null, TpmPublic? key = null)
    {
        TpmPublic ak = key ?? s.Ak.Public;
        using var verifier = new QuoteVerifier(ak, ak.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement));
        var result = new VerificationResult();
        verifier.Verify(quote ?? s.Quote, nonce ?? s.Nonce, expected ?? s.Selection, pcrs ?? s.Pcrs, result, out _);
        return result;
    }

    [Fact]
    public void GetCapability_reports_manufacturer_sha256_bank_and_persistent_ek()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        SortedDictionary<uint, uint> props = tpm.GetTpmProperties(TpmCapabilities.PropertyManufacturer, 1);
        Assert.Equal(0x49424D00u, props[TpmCapabilities.PropertyManufacturer]); // "IBM\0": libtpms
        PcrBankSelection[] banks = tpm.GetPcrBanks();
        Assert.Contains(banks, b => b.Bank == TpmAlgorithm.Sha256 && b.Mask == 0xFFFFFF);
        Assert.Contains(TpmHandles.RsaEkPersistent, tpm.GetHandles(TpmCapabilities.PersistentHandleFirst));
    }

    [Fact]
    public void PcrExtend_and_PcrRead_follow_the_extend_rule()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        tpm.PcrReset(16);
        byte[] a = SHA256.HashData("a"u8), b = SHA256.HashData("b"u8);
        tpm.PcrExtend(16, a);
        tpm.PcrExtend(16, b);
        byte[] value = tpm.PcrRead(PcrBankSelection.Of(TpmAlgorithm.Sha256, 16))[16];
        Assert.Equal(QuoteVerifier.Replay([a, b]), value);
        // More than 8 PCRs need several PCR_Read calls.
        SortedDictionary<int, byte[]> all = tpm.PcrRead(new PcrBankSelection(TpmAlgorithm.Sha256, 0xFFFFFF));
        Assert.Equal(Enumerable.Range(0, 24), all.Keys);
        Assert.Equal(value, all[16]);
    }

    [Fact]
    public void Tpm_errors_are_decoded_and_resetting_a_non_resettable_pcr_fails()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        var ex = Assert.Throws<TpmException>(() => tpm.PcrReset(0));
        Assert.Equal(TpmCommandCode.PcrReset, ex.Command);
        Assert.Contains("TPM_RC_LOCALITY", ex.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<TpmException>(() => tpm.FlushContext(0x80FFFFFF));
        Assert.Contains("TPM_RC_", bad.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(KeyKind.Ecc, TpmStreamFraming.Raw)]
    [InlineData(KeyKind.Rsa, TpmStreamFraming.Raw)]
    [InlineData(KeyKind.Ecc, TpmStreamFraming.Mssim)]
    public void Quote_verifies_and_names_are_consistent(KeyKind kind, TpmStreamFraming framing)
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect(framing);
        QuoteSetup s = MakeQuote(tpm, kind);
        VerificationResult result = Verify(s);
        Assert.True(result.IsTrusted, result.ToString());
        Assert.Equal(CheckStatus.Passed, result.StatusOf(VerificationCheck.TpmSignature));
        Assert.Equal(CheckStatus.Passed, result.StatusOf(VerificationCheck.PcrDigest));

        // ReadPublic of a freshly created primary gives the same Name and the QN we compute.
        TpmObject again = tpm.CreatePrimary(TpmHandles.Endorsement, Template(kind));
        try
        {
            (TpmObject read, byte[] qn) = tpm.ReadPublic(again.Handle);
            Assert.Equal(s.Ak.Name, read.Name);
            Assert.Equal(read.Public.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement), qn);
            Assert.True(read.Public.IsRestrictedSigningKey);
        }
        finally
        {
            tpm.FlushContext(again.Handle);
        }
    }

    [Theory]
    [InlineData(KeyKind.Ecc)]
    [InlineData(KeyKind.Rsa)]
    public void Wrong_nonce_is_rejected_with_its_reason(KeyKind kind)
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        QuoteSetup s = MakeQuote(tpm, kind);
        VerificationResult r = Verify(s, nonce: RandomNumberGenerator.GetBytes(32));
        Assert.False(r.IsTrusted);
        Assert.True(r.HasFailed(VerificationCheck.Nonce));
        Assert.Equal(CheckStatus.Passed, r.StatusOf(VerificationCheck.TpmSignature));
        VerificationResult shortNonce = Verify(s, nonce: new byte[8]);
        Assert.Contains(shortNonce.Failures, f => f.Check == VerificationCheck.Nonce && f.Reason.Contains("16..64", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(KeyKind.Ecc)]
    [InlineData(KeyKind.Rsa)]
    public void Every_flipped_quote_bit_is_rejected_by_the_signature_check(KeyKind kind)
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        QuoteSetup s = MakeQuote(tpm, kind);
        using var verifier = new QuoteVerifier(s.Ak.Public, s.Ak.Public.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement));
        int rejected = 0;
        for (int bit = 0; bit < s.Quote.Attest.Length * 8; bit++)
        {
            byte[] attest = (byte[])s.Quote.Attest.Clone();
            attest[bit / 8] ^= (byte)(1 << (bit % 8));
            var result = new VerificationResult();
            Assert.False(verifier.Verify(s.Quote with { Attest = attest }, s.Nonce, s.Selection, s.Pcrs, result, out _));
            Assert.True(result.HasFailed(VerificationCheck.TpmSignature));
            Assert.Equal(CheckStatus.NotEvaluated, result.StatusOf(VerificationCheck.Nonce));
            rejected++;
        }

        for (int bit = 0; bit < s.Quote.Signature.Length * 8; bit++)
        {
            byte[] sig = (byte[])s.Quote.Signature.Clone();
            sig[bit / 8] ^= (byte)(1 << (bit % 8));
            var result = new VerificationResult();
            Assert.False(verifier.Verify(s.Quote with { Signature = sig }, s.Nonce, s.Selection, s.Pcrs, result, out _));
            Assert.True(result.HasFailed(VerificationCheck.TpmSignature));
            rejected++;
        }

        Assert.Equal((s.Quote.Attest.Length + s.Quote.Signature.Length) * 8, rejected);
    }

    [Fact]
    public void Wrong_pcr_value_and_wrong_selection_are_rejected()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        QuoteSetup s = MakeQuote(tpm, KeyKind.Ecc, PcrBankSelection.Of(TpmAlgorithm.Sha256, 0, Pcr));
        var tampered = new Dictionary<int, byte[]>(s.Pcrs) { [Pcr] = SHA256.HashData("other monitor"u8) };
        VerificationResult wrongValue = Verify(s, pcrs: tampered);
        Assert.True(wrongValue.HasFailed(VerificationCheck.PcrDigest));
        Assert.Equal(CheckStatus.Passed, wrongValue.StatusOf(VerificationCheck.PcrSelection));

        VerificationResult wrongSelection = Verify(s, expected: PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr),
            pcrs: new Dictionary<int, byte[]> { [Pcr] = s.Pcrs[Pcr] });
        Assert.True(wrongSelection.HasFailed(VerificationCheck.PcrSelection));
        Assert.Equal(CheckStatus.NotEvaluated, wrongSelection.StatusOf(VerificationCheck.PcrDigest));
    }

    [Fact]
    public void Replayed_quote_is_rejected_by_the_fresh_nonce()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        QuoteSetup first = MakeQuote(tpm, KeyKind.Ecc);
        Assert.True(Verify(first).IsTrusted);
        var nonces = new NonceTracker(TimeSpan.FromMinutes(1));
        byte[] fresh = nonces.Issue();
        VerificationResult replay = Verify(first, nonce: fresh);
        Assert.True(replay.HasFailed(VerificationCheck.Nonce));
        Assert.Contains("replayed", replay.Failures.First().Reason, StringComparison.Ordinal);
        Assert.True(nonces.TryConsume(fresh));
        Assert.False(nonces.TryConsume(fresh));
    }

    [Fact]
    public void Key_from_another_tpm_is_rejected()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        using Tpm2 other = _other.Connect();
        QuoteSetup mine = MakeQuote(tpm, KeyKind.Ecc);
        QuoteSetup theirs = MakeQuote(other, KeyKind.Ecc);
        Assert.NotEqual(mine.Ak.Name, theirs.Ak.Name);
        // The other TPM's quote, checked against the key enrolled for this TPM.
        VerificationResult r = Verify(theirs, key: mine.Ak.Public);
        Assert.True(r.HasFailed(VerificationCheck.TpmSignature));
        Assert.False(r.IsTrusted);
    }

    [Fact]
    public void Ek_certificate_chain_and_credential_activation_enrol_the_ak()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        (TpmObject ek, _) = tpm.ReadPublic(TpmHandles.RsaEkPersistent);
        using X509Certificate2 ekCert = X509CertificateLoader.LoadCertificate(tpm.NvReadAll(TpmHandles.RsaEkCertificateNvIndex));
        using X509Certificate2 root = _swtpm.LoadRoot();
        using X509Certificate2 issuer = _swtpm.LoadIssuer();

        // The persisted EK is the standard template L-1: CreatePrimary re-derives the same key.
        TpmObject derived = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EndorsementKeyRsa2048());
        tpm.FlushContext(derived.Handle);
        Assert.Equal(ek.Name, derived.Name);

        TpmObject ak = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.AttestationKeyEccP256());
        try
        {
            var result = new VerificationResult();
            AttestationKeyEnrollment? enrol = AttestationKeyEnrollment.Begin(ekCert, [root], [issuer], ek.Public, ak.Public, result);
            Assert.NotNull(enrol);
            byte[] secret = tpm.ActivateCredential(ak.Handle, ek.Handle, enrol!.Challenge.CredentialBlob, enrol.Challenge.EncryptedSecret);
            Assert.True(enrol.Complete(secret, result));
            Assert.True(result.IsTrusted, result.ToString());
        }
        finally
        {
            tpm.FlushContext(ak.Handle);
        }
    }

    [Fact]
    public void Credential_for_another_tpms_ek_cannot_be_activated_and_enrolment_fails()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        using Tpm2 other = _other.Connect();
        (TpmObject ekA, _) = tpm.ReadPublic(TpmHandles.RsaEkPersistent);
        (TpmObject ekB, _) = other.ReadPublic(TpmHandles.RsaEkPersistent);
        using X509Certificate2 certA = X509CertificateLoader.LoadCertificate(tpm.NvReadAll(TpmHandles.RsaEkCertificateNvIndex));
        using X509Certificate2 root = _swtpm.LoadRoot();
        using X509Certificate2 issuer = _swtpm.LoadIssuer();
        TpmObject akB = other.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.AttestationKeyEccP256());
        try
        {
            // The attester claims TPM A's EK certificate, but its AK lives in TPM B.
            var result = new VerificationResult();
            AttestationKeyEnrollment enrol = AttestationKeyEnrollment.Begin(certA, [root], [issuer], ekA.Public, akB.Public, result)!;
            var ex = Assert.Throws<TpmException>(() => other.ActivateCredential(akB.Handle, ekB.Handle, enrol.Challenge.CredentialBlob, enrol.Challenge.EncryptedSecret));
            Assert.Equal(TpmCommandCode.ActivateCredential, ex.Command);
            Assert.False(enrol.Complete(RandomNumberGenerator.GetBytes(32), result));
            Assert.False(enrol.IsEnrolled);
            Assert.Throws<InvalidOperationException>(() => enrol.ToTrustAnchors());
            Assert.True(result.HasFailed(VerificationCheck.CredentialActivation));

            // Claiming TPM A's certificate for TPM B's EK public area fails the certificate check.
            var mismatch = new VerificationResult();
            Assert.Null(AttestationKeyEnrollment.Begin(certA, [root], [issuer], ekB.Public, akB.Public, mismatch));
            Assert.Contains(mismatch.Failures, f => f.Check == VerificationCheck.EndorsementCertificate && f.Reason.Contains("does not match", StringComparison.Ordinal));

            // A chain to an untrusted root fails.
            using X509Certificate2 otherRoot = _other.LoadRoot();
            var untrusted = new VerificationResult();
            Assert.Null(AttestationKeyEnrollment.Begin(certA, [otherRoot], [], ekA.Public, akB.Public, untrusted));
            Assert.True(untrusted.HasFailed(VerificationCheck.EndorsementCertificate));
        }
        finally
        {
            other.FlushContext(akB.Handle);
        }
    }

    [Fact]
    public void Standard_ecc_ek_template_creates_a_p256_restricted_decryption_key()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        TpmObject ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EndorsementKeyEccP256());
        try
        {
            Assert.Equal(TpmAlgorithm.Ecc, ek.Public.Type);
            Assert.Equal(TpmEccCurve.NistP256, ek.Public.Curve);
            Assert.Equal(TpmTemplates.EndorsementKeyAttributes, ek.Public.Attributes);
            Assert.Equal(TpmTemplates.EndorsementPolicySha256.ToArray(), ek.Public.AuthPolicy.ToArray());
            Assert.False(ek.Public.IsRestrictedSigningKey);
            using ECDsa key = ek.Public.CreateECDsa();
            Assert.Equal(256, key.KeySize);
        }
        finally
        {
            tpm.FlushContext(ek.Handle);
        }
    }

    [Fact]
    public void Power_cycle_resets_the_monitor_pcr_increments_reset_count_and_keeps_the_ak_name()
    {
        if (!_other.Available) return;
        QuoteSetup before;
        using (Tpm2 tpm = _other.Connect())
        {
            before = MakeQuote(tpm, KeyKind.Ecc);
            tpm.Shutdown(); // orderly, so the clock stays "safe" and no DA lockout builds up
        }

        Assert.True(TpmsAttest.TryDecode(before.Quote.Attest, out TpmsAttest? a1, out _));
        _other.PowerCycle();
        using (Tpm2 tpm = _other.Connect())
        {
            Assert.Equal(new byte[32], tpm.PcrRead(PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr))[Pcr]);
            QuoteSetup after = MakeQuote(tpm, KeyKind.Ecc);
            Assert.Equal(before.Ak.Name, after.Ak.Name); // primaries are derived from the hierarchy seed
            Assert.True(TpmsAttest.TryDecode(after.Quote.Attest, out TpmsAttest? a2, out _));
            Assert.Equal(a1!.ClockInfo.ResetCount + 1, a2!.ClockInfo.ResetCount);
            Assert.True(Verify(after).IsTrusted);
            // The pre-reboot quote is still a valid signature but is bound to the old nonce.
            Assert.True(Verify(before, nonce: after.Nonce).HasFailed(VerificationCheck.Nonce));
        }
    }

    [Fact]
    public void Credential_made_for_an_ecc_ek_is_activated_by_the_tpm_and_a_wrong_name_is_refused()
    {
        if (!_swtpm.Available) return;
        using Tpm2 tpm = _swtpm.Connect();
        TpmObject ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EndorsementKeyEccP256());
        TpmObject ak = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.AttestationKeyEccP256());
        try
        {
            byte[] secret = RandomNumberGenerator.GetBytes(32);
            CredentialChallenge c = TpmCredential.Make(ek.Public, ak.Name, secret);
            Assert.Equal(secret, tpm.ActivateCredential(ak.Handle, ek.Handle, c.CredentialBlob, c.EncryptedSecret));

            byte[] otherName = (byte[])ak.Name.Clone();
            otherName[^1] ^= 1;
            CredentialChallenge wrong = TpmCredential.Make(ek.Public, otherName, secret);
            var ex = Assert.Throws<TpmException>(() => tpm.ActivateCredential(ak.Handle, ek.Handle, wrong.CredentialBlob, wrong.EncryptedSecret));
            Assert.Contains("TPM_RC_INTEGRITY", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            tpm.FlushContext(ak.Handle);
            tpm.FlushContext(ek.Handle);
        }
    }
}
