// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;

namespace Tyche.Attestation.Tests;

/// <summary>Cross-checks with tools nobody here wrote: tpm2-tools quotes in our verifier, our quotes in tpm2_checkquote.</summary>
public sealed class ToolCrossCheckTests : IClassFixture<SwtpmFixture>, IDisposable
{
    private const int Pcr = 16;
    private readonly SwtpmFixture _swtpm;
    private readonly string _dir = Directory.CreateTempSubdirectory("tyche-tools-").FullName;

    public ToolCrossCheckTests(SwtpmFixture swtpm) => _swtpm = swtpm;

    public void Dispose() => Directory.Delete(_dir, true);

    private (int Rc, string Output) Tool(string tool, string args) =>
        ExternalTools.Run(tool, args, _dir, ("TPM2TOOLS_TCTI", _swtpm.Tcti));

    private void ToolOk(string tool, string args)
    {
        (int rc, string output) = Tool(tool, args);
        Assert.True(rc == 0, $"{tool} {args} failed: {output}");
    }

    /// <summary>The qualified name of a tpm2_createak key: a child of the EK, itself a primary in the endorsement hierarchy.</summary>
    internal static byte[] ChildOfEkQualifiedName(TpmPublic ek, TpmPublic ak) =>
        TpmNames.Qualify(ek.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement), ak.ComputeName());

    internal static TpmPublic LoadSized(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(TpmPublic.TryDecodeSized(bytes, out TpmPublic? pub, out int consumed));
        Assert.Equal(bytes.Length, consumed);
        return pub!;
    }

    [Fact]
    public void Quote_made_by_tpm2_quote_verifies_in_our_verifier_and_a_wrong_nonce_does_not()
    {
        if (!_swtpm.Available || !ExternalTools.Require("tpm2_createek", "tpm2_createak", "tpm2_quote", "tpm2_flushcontext")) return;
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        ToolOk("tpm2_createek", "-c ek.ctx -G rsa -u ek.pub");
        ToolOk("tpm2_createak", "-C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name");
        ToolOk("tpm2_flushcontext", "-t");
        ToolOk("tpm2_pcrextend", $"{Pcr}:sha256={Convert.ToHexString(SHA256.HashData("monitor"u8))}");
        ToolOk("tpm2_quote", $"-c ak.ctx -l sha256:{Pcr} -q {Convert.ToHexString(nonce)} -m quote.msg -s quote.sig -g sha256");
        ToolOk("tpm2_flushcontext", "-t");

        TpmPublic ek = LoadSized(Path.Combine(_dir, "ek.pub"));
        TpmPublic ak = LoadSized(Path.Combine(_dir, "ak.pub"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "ak.name")), ak.ComputeName());
        var quote = new TpmQuote(File.ReadAllBytes(Path.Combine(_dir, "quote.msg")), File.ReadAllBytes(Path.Combine(_dir, "quote.sig")));
        PcrBankSelection selection = PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr);
        SortedDictionary<int, byte[]> pcrs;
        using (Tpm2 tpm = _swtpm.Connect())
        {
            pcrs = tpm.PcrRead(selection);
        }

        using var verifier = new QuoteVerifier(ak, ChildOfEkQualifiedName(ek, ak));
        var ok = new VerificationResult();
        Assert.True(verifier.Verify(quote, nonce, selection, pcrs, ok, out TpmsAttest? attest), ok.ToString());
        Assert.True(ok.IsTrusted, ok.ToString());
        Assert.Equal(nonce, attest!.ExtraData.ToArray());

        var bad = new VerificationResult();
        Assert.False(verifier.Verify(quote, RandomNumberGenerator.GetBytes(32), selection, pcrs, bad, out _));
        Assert.True(bad.HasFailed(VerificationCheck.Nonce));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Our_quote_verifies_with_tpm2_checkquote_and_a_wrong_nonce_or_pcr_fails_it(bool rsa)
    {
        if (!_swtpm.Available || !ExternalTools.Require("tpm2_checkquote")) return;
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        PcrBankSelection selection = PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr);
        TpmQuote quote;
        TpmObject ak;
        byte[] pcr;
        using (Tpm2 tpm = _swtpm.Connect())
        {
            tpm.PcrExtend(Pcr, SHA256.HashData("ours"u8));
            ak = tpm.CreatePrimary(TpmHandles.Endorsement, rsa ? TpmTemplates.AttestationKeyRsa2048() : TpmTemplates.AttestationKeyEccP256());
            try
            {
                quote = tpm.Quote(ak.Handle, nonce, [selection]);
            }
            finally
            {
                tpm.FlushContext(ak.Handle);
            }

            pcr = tpm.PcrRead(selection)[Pcr];
        }

        File.WriteAllBytes(Path.Combine(_dir, "q.msg"), quote.Attest);
        File.WriteAllBytes(Path.Combine(_dir, "q.sig"), quote.Signature);
        File.WriteAllBytes(Path.Combine(_dir, "pcr.bin"), pcr);
        File.WriteAllText(Path.Combine(_dir, "ak.pem"), PemEncoding.WriteString("PUBLIC KEY", ak.Public.ExportSubjectPublicKeyInfo()));
        string common = $"-u ak.pem -m q.msg -s q.sig -g sha256 -f pcr.bin -l sha256:{Pcr}";
        (int rc, string output) = Tool("tpm2_checkquote", $"{common} -q {Convert.ToHexString(nonce)}");
        Assert.True(rc == 0, output);
        (int rcNonce, _) = Tool("tpm2_checkquote", $"{common} -q {Convert.ToHexString(RandomNumberGenerator.GetBytes(32))}");
        Assert.NotEqual(0, rcNonce);
        File.WriteAllBytes(Path.Combine(_dir, "pcr.bin"), new byte[32]);
        (int rcPcr, _) = Tool("tpm2_checkquote", $"{common} -q {Convert.ToHexString(nonce)}");
        Assert.NotEqual(0, rcPcr);
    }
}

/// <summary>A tpm2-tools quote vector checked into test/data/attestation (made with swtpm; see its README).</summary>
public sealed class ToolVectorTests
{
    private static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "data", "attestation", name);

    [Fact]
    public void Checked_in_tpm2_tools_vector_verifies_and_every_tampering_fails()
    {
        TpmPublic ek = ToolCrossCheckTests.LoadSized(Data("ek.pub"));
        TpmPublic ak = ToolCrossCheckTests.LoadSized(Data("ak.pub"));
        Assert.Equal(File.ReadAllBytes(Data("ak.name")), ak.ComputeName());
        var quote = new TpmQuote(File.ReadAllBytes(Data("quote.msg")), File.ReadAllBytes(Data("quote.sig")));
        byte[] nonce = Convert.FromHexString(File.ReadAllText(Data("nonce.hex")).Trim());
        var pcrs = new Dictionary<int, byte[]> { [23] = File.ReadAllBytes(Data("pcr23.bin")) };
        PcrBankSelection sel = PcrBankSelection.Of(TpmAlgorithm.Sha256, 23);
        using var verifier = new QuoteVerifier(ak, ToolCrossCheckTests.ChildOfEkQualifiedName(ek, ak));
        var r = new VerificationResult();
        Assert.True(verifier.Verify(quote, nonce, sel, pcrs, r, out _), r.ToString());
        // The measured value: PCR 23 = SHA256(0^32 || SHA256("monitor-v1")).
        Assert.Equal(QuoteVerifier.Replay([SHA256.HashData("monitor-v1"u8)]), pcrs[23]);

        var wrongSigner = new VerificationResult();
        using var primaryQn = new QuoteVerifier(ak, ak.ComputeQualifiedNameAsPrimary(TpmHandles.Endorsement));
        Assert.False(primaryQn.Verify(quote, nonce, sel, pcrs, wrongSigner, out _));
        Assert.True(wrongSigner.HasFailed(VerificationCheck.SignerName));
    }
}
