// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Tyche.Attestation.Reports;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Attestation.Tests;

/// <summary>
/// Mutation fuzzing of every decoder of untrusted bytes (≥ 100,000 inputs per run in total): they return false and
/// never throw, and whatever they accept re-encodes canonically. The seed is printed so a failure can be replayed
/// (set TYCHE_FUZZ_SEED).
/// </summary>
public sealed class DecoderFuzzTests
{
    private readonly ITestOutputHelper _output;
    private readonly int _seed;

    public DecoderFuzzTests(ITestOutputHelper output)
    {
        _output = output;
        _seed = int.TryParse(Environment.GetEnvironmentVariable("TYCHE_FUZZ_SEED"), out int s) ? s : Environment.TickCount;
        _output.WriteLine($"fuzz seed {_seed}");
    }

    internal static byte[] Mutate(Random rng, byte[] seed)
    {
        var data = new List<byte>(seed);
        int rounds = 1 + rng.Next(4);
        for (int i = 0; i < rounds; i++)
        {
            switch (rng.Next(7))
            {
                case 0 when data.Count > 0:
                    int b = rng.Next(data.Count * 8);
                    data[b / 8] ^= (byte)(1 << (b % 8));
                    break;
                case 1 when data.Count > 0:
                    data[rng.Next(data.Count)] = (byte)rng.Next(256);
                    break;
                case 2:
                    data.Insert(rng.Next(data.Count + 1), (byte)rng.Next(256));
                    break;
                case 3 when data.Count > 0:
                    data.RemoveAt(rng.Next(data.Count));
                    break;
                case 4 when data.Count > 0:
                    // Truncate at a random length.
                    data = data.Take(rng.Next(data.Count + 1)).ToList();
                    break;
                case 5:
                    byte[] junk = new byte[rng.Next(1, 9)];
                    rng.NextBytes(junk);
                    data.InsertRange(rng.Next(data.Count + 1), junk);
                    break;
                default:
                    // Interesting CBOR/TPM values: lengths and tags at boundaries.
                    byte[] interesting = [0x00, 0xFF, 0x7F, 0x80, 0x18, 0x19, 0x1A, 0x1B, 0x40, 0x5F, 0x9F, 0xBF, 0xF6, 0xF7];
                    if (data.Count > 0) data[rng.Next(data.Count)] = interesting[rng.Next(interesting.Length)];
                    break;
            }
        }

        return data.ToArray();
    }

    private static byte[] RandomBytes(Random rng)
    {
        byte[] b = new byte[rng.Next(0, 300)];
        rng.NextBytes(b);
        return b;
    }

    [Fact]
    public void Report_decoder_survives_60000_mutated_and_random_inputs()
    {
        var s = new TestScenario();
        var identity = new MonitorIdentity(new byte[32], new byte[32], 23);
        var builder = new ReportBuilder(s.Engine, s.Memory);
        Assert.Equal(CapabilityError.Ok, builder.TryBuildCompositionReport([s.Manager, s.Enclave], new byte[32], identity, out AttestationReport? composition));
        Assert.Equal(CapabilityError.Ok, builder.TryBuildDomainReport(s.Enclave, new byte[16], identity, out AttestationReport? single));
        byte[][] corpus = [composition!.Encode(), single!.Encode()];
        var rng = new Random(_seed);
        int accepted = 0, total = 0;
        for (; total < 60_000; total++)
        {
            byte[] input = total % 10 == 0 ? RandomBytes(rng) : Mutate(rng, corpus[rng.Next(corpus.Length)]);
            if (AttestationReport.TryDecode(input, out AttestationReport? r, out int consumed, out ReportDecodeError error))
            {
                accepted++;
                Assert.Equal(ReportDecodeError.None, error);
                Assert.Equal(input.Length, consumed);
                Assert.Equal(input, r!.Encode()); // anything accepted is canonical
            }
            else
            {
                Assert.Null(r);
                Assert.NotEqual(ReportDecodeError.None, error);
            }
        }

        _output.WriteLine($"{total} report inputs, {accepted} accepted (canonical)");
        Assert.Equal(60_000, total);
    }

    [Fact]
    public void Tpm_structure_and_evidence_decoders_survive_50000_mutated_and_random_inputs()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "data", "attestation");
        byte[] attest = File.ReadAllBytes(Path.Combine(dir, "quote.msg"));
        byte[] sig = File.ReadAllBytes(Path.Combine(dir, "quote.sig"));
        byte[] ak = File.ReadAllBytes(Path.Combine(dir, "ak.pub"));
        byte[] ek = File.ReadAllBytes(Path.Combine(dir, "ek.pub"));
        var rng = new Random(_seed);
        int total = 0;
        for (int i = 0; i < 10_000; i++, total++)
        {
            byte[] m = i % 10 == 0 ? RandomBytes(rng) : Mutate(rng, attest);
            if (TpmsAttest.TryDecode(m, out TpmsAttest? a, out int consumed)) Assert.True(consumed <= m.Length && a is not null);
        }

        for (int i = 0; i < 10_000; i++, total++)
        {
            byte[] m = i % 10 == 0 ? RandomBytes(rng) : Mutate(rng, sig);
            if (TpmSignature.TryDecode(m, out TpmSignature? x, out int consumed)) Assert.True(consumed <= m.Length && x is not null);
        }

        for (int i = 0; i < 20_000; i++, total++)
        {
            byte[] m = i % 10 == 0 ? RandomBytes(rng) : Mutate(rng, i % 2 == 0 ? ak : ek);
            if (TpmPublic.TryDecodeSized(m, out TpmPublic? p, out int consumed))
            {
                Assert.True(consumed <= m.Length);
                Assert.Equal(34, p!.ComputeName().Length);
            }
        }

        // The evidence bundle decoder, seeded with a bundle made of the vector.
        byte[] bundle = EvidenceCodec.Encode(new AttestationEvidence
        {
            Quote = new TpmQuote(attest, sig), AttestationKeyPublic = ak[2..], PcrValues = new Dictionary<int, byte[]> { [23] = new byte[32] },
            EventLog = [new MeasurementEvent(23, MeasurementEventKind.MonitorImage, new byte[32])], SignedReport = [0x30, 0x00],
        });
        for (int i = 0; i < 10_000; i++, total++)
        {
            byte[] m = i % 10 == 0 ? RandomBytes(rng) : Mutate(rng, bundle);
            if (EvidenceCodec.TryDecode(m, out AttestationEvidence? e, out int consumed))
            {
                Assert.Equal(m.Length, consumed);
                Assert.Equal(m, EvidenceCodec.Encode(e!));
            }
        }

        Assert.Equal(50_000, total);
    }

    [Fact]
    public void Quote_verifier_and_policy_parser_never_throw_on_5000_mutated_inputs_each()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "data", "attestation");
        Assert.True(TpmPublic.TryDecodeSized(File.ReadAllBytes(Path.Combine(dir, "ak.pub")), out TpmPublic? ak, out _));
        var quote = new TpmQuote(File.ReadAllBytes(Path.Combine(dir, "quote.msg")), File.ReadAllBytes(Path.Combine(dir, "quote.sig")));
        byte[] nonce = Convert.FromHexString(File.ReadAllText(Path.Combine(dir, "nonce.hex")).Trim());
        var pcrs = new Dictionary<int, byte[]> { [23] = File.ReadAllBytes(Path.Combine(dir, "pcr23.bin")) };
        using var verifier = new QuoteVerifier(ak!, new byte[34]);
        var rng = new Random(_seed);
        for (int i = 0; i < 5_000; i++)
        {
            TpmQuote q = i % 2 == 0 ? quote with { Attest = Mutate(rng, quote.Attest) } : quote with { Signature = Mutate(rng, quote.Signature) };
            var r = new VerificationResult();
            Assert.False(verifier.Verify(q, nonce, PcrBankSelection.Of(TpmAlgorithm.Sha256, 23), pcrs, r, out _));
        }

        byte[] policy = Encoding.UTF8.GetBytes(new TestScenario().PolicyJson(new byte[32], 23));
        int parsed = 0;
        for (int i = 0; i < 5_000; i++)
        {
            string text = Encoding.UTF8.GetString(Mutate(rng, policy));
            if (AttestationPolicy.TryParse(text, out AttestationPolicy? p, out string error)) parsed++;
            else Assert.False(string.IsNullOrEmpty(error));
        }

        _output.WriteLine($"{parsed} of 5000 mutated policies still parsed");
    }

    [Fact]
    public void Tpm_client_rejects_malformed_responses_with_TpmException_or_IOException()
    {
        // A well-formed TPM2_Quote response captured from the vector, then mutated: the client must throw only typed errors.
        string dir = Path.Combine(AppContext.BaseDirectory, "data", "attestation");
        byte[] attest = File.ReadAllBytes(Path.Combine(dir, "quote.msg"));
        byte[] sig = File.ReadAllBytes(Path.Combine(dir, "quote.sig"));
        byte[] good = FakeTpm.SessionResponse([.. FakeTpm.B2(attest), .. sig]);
        var rng = new Random(_seed);
        int rejected = 0;
        for (int i = 0; i < 2_000; i++)
        {
            byte[] response = i == 0 ? good : Mutate(rng, good);
            using var tpm = new Tpm2(new FakeTpm(response));
            try
            {
                TpmQuote q = tpm.Quote(0x80000000, new byte[16], [PcrBankSelection.Of(TpmAlgorithm.Sha256, 23)]);
                Assert.True(TpmsAttest.TryDecode(q.Attest, out _, out int n) && n == q.Attest.Length);
            }
            catch (TpmException)
            {
                rejected++;
            }
            catch (IOException)
            {
                rejected++;
            }
        }

        Assert.True(rejected > 1000, $"only {rejected} of 2000 mutated responses were rejected");
    }
}
