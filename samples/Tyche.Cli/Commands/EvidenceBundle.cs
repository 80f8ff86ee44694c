// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;

namespace Tyche.Cli;

/// <summary>
/// The files <c>tyche verify</c> reads (written by samples/ConfidentialSaas with <c>--write-evidence DIR</c>):
/// <c>evidence.json</c> (what the attester sent plus the nonce the verifier issued) and <c>trust.json</c> (the attestation key
/// the verifier enrolled). Binary fields are lowercase hex; the signed report is base64.
/// </summary>
internal static class EvidenceBundle
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>Serializes evidence and the verifier's nonce.</summary>
    /// <param name="evidence">The evidence.</param>
    /// <param name="nonce">The nonce the verifier issued.</param>
    /// <returns>The JSON text.</returns>
    public static string WriteEvidence(AttestationEvidence evidence, ReadOnlySpan<byte> nonce)
    {
        JsonObject pcrs = [];
        foreach (KeyValuePair<int, byte[]> pcr in evidence.PcrValues)
        {
            pcrs[pcr.Key.ToString(CultureInfo.InvariantCulture)] = Hex(pcr.Value);
        }

        JsonArray log = [];
        foreach (MeasurementEvent e in evidence.EventLog)
        {
            log.Add(new JsonObject { ["pcr"] = e.Pcr, ["kind"] = e.Kind.ToString(), ["digest"] = Hex(e.Digest) });
        }

        JsonObject root = new()
        {
            ["version"] = 1,
            ["nonce"] = Hex(nonce),
            ["quote"] = new JsonObject { ["attest"] = Hex(evidence.Quote.Attest), ["signature"] = Hex(evidence.Quote.Signature) },
            ["attestationKeyPublic"] = Hex(evidence.AttestationKeyPublic),
            ["pcrValues"] = pcrs,
            ["eventLog"] = log,
            ["signedReport"] = Convert.ToBase64String(evidence.SignedReport),
        };
        return root.ToJsonString(s_json);
    }

    /// <summary>Serializes the verifier's trust anchors (the pinned attestation key).</summary>
    /// <param name="trust">The anchors.</param>
    /// <returns>The JSON text.</returns>
    public static string WriteTrust(VerifierTrustAnchors trust) => new JsonObject
    {
        ["version"] = 1,
        ["attestationKeyPublic"] = Hex(trust.AttestationKey.Raw),
        ["qualifiedName"] = Hex(trust.QualifiedName),
    }.ToJsonString(s_json);

    /// <summary>Parses <c>evidence.json</c>.</summary>
    /// <param name="json">The text.</param>
    /// <param name="evidence">The evidence.</param>
    /// <param name="nonce">The nonce the verifier issued.</param>
    /// <param name="error">Why parsing failed.</param>
    /// <returns><see langword="false"/> on malformed input.</returns>
    public static bool TryReadEvidence(string json, out AttestationEvidence? evidence, out byte[] nonce, out string error)
    {
        evidence = null;
        nonce = [];
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            JsonElement root = document.RootElement;
            if (root.GetProperty("version").GetInt32() != 1)
            {
                error = "evidence 'version' must be 1.";
                return false;
            }

            nonce = Convert.FromHexString(root.GetProperty("nonce").GetString() ?? string.Empty);
            JsonElement quote = root.GetProperty("quote");
            SortedDictionary<int, byte[]> pcrs = [];
            foreach (JsonProperty pcr in root.GetProperty("pcrValues").EnumerateObject())
            {
                pcrs[int.Parse(pcr.Name, NumberStyles.None, CultureInfo.InvariantCulture)] = Convert.FromHexString(pcr.Value.GetString() ?? string.Empty);
            }

            List<MeasurementEvent> log = [];
            foreach (JsonElement e in root.GetProperty("eventLog").EnumerateArray())
            {
                if (!Enum.TryParse(e.GetProperty("kind").GetString(), out MeasurementEventKind kind) || !Enum.IsDefined(kind))
                {
                    error = $"eventLog: unknown kind '{e.GetProperty("kind").GetString()}'.";
                    return false;
                }

                log.Add(new MeasurementEvent(e.GetProperty("pcr").GetInt32(), kind, Convert.FromHexString(e.GetProperty("digest").GetString() ?? string.Empty)));
            }

            evidence = new AttestationEvidence
            {
                Quote = new TpmQuote(Convert.FromHexString(quote.GetProperty("attest").GetString() ?? string.Empty),
                    Convert.FromHexString(quote.GetProperty("signature").GetString() ?? string.Empty)),
                AttestationKeyPublic = Convert.FromHexString(root.GetProperty("attestationKeyPublic").GetString() ?? string.Empty),
                PcrValues = pcrs,
                EventLog = log,
                SignedReport = Convert.FromBase64String(root.GetProperty("signedReport").GetString() ?? string.Empty),
            };
            error = string.Empty;
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            error = $"malformed evidence: {e.Message}";
            return false;
        }
    }

    /// <summary>Parses <c>trust.json</c>.</summary>
    /// <param name="json">The text.</param>
    /// <param name="trust">The anchors.</param>
    /// <param name="error">Why parsing failed.</param>
    /// <returns><see langword="false"/> on malformed input.</returns>
    public static bool TryReadTrust(string json, out VerifierTrustAnchors? trust, out string error)
    {
        trust = null;
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            JsonElement root = document.RootElement;
            byte[] area = Convert.FromHexString(root.GetProperty("attestationKeyPublic").GetString() ?? string.Empty);
            if (!TpmPublic.TryDecode(area, out TpmPublic? key, out int consumed) || consumed != area.Length)
            {
                error = "trust: 'attestationKeyPublic' is not a TPMT_PUBLIC.";
                return false;
            }

            trust = new VerifierTrustAnchors(key!, Convert.FromHexString(root.GetProperty("qualifiedName").GetString() ?? string.Empty));
            error = string.Empty;
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            error = $"malformed trust anchors: {e.Message}";
            return false;
        }
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
