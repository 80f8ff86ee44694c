// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Formats.Cbor;
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation.Verification;

/// <summary>
/// Wire encoding of <see cref="AttestationEvidence"/> as canonical CBOR (docs/report.cddl <c>evidence</c>), so an
/// attester can send its evidence as one blob. Decoding is strict and never throws.
/// </summary>
public static class EvidenceCodec
{
    private const int MaxBlob = 16384;
    private const int DigestLength = 32;

    /// <summary>Encodes evidence.</summary>
    public static byte[] Encode(AttestationEvidence evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        var w = new CborWriter(CborConformanceMode.Ctap2Canonical);
        w.WriteStartMap(6);
        w.WriteInt32(1); w.WriteByteString(evidence.Quote.Attest);
        w.WriteInt32(2); w.WriteByteString(evidence.Quote.Signature);
        w.WriteInt32(3); w.WriteByteString(evidence.AttestationKeyPublic);
        w.WriteInt32(4);
        var pcrs = new List<int>(evidence.PcrValues.Keys);
        pcrs.Sort();
        w.WriteStartArray(pcrs.Count);
        foreach (int p in pcrs)
        {
            w.WriteStartArray(2);
            w.WriteInt32(p);
            w.WriteByteString(evidence.PcrValues[p]);
            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteInt32(5);
        w.WriteStartArray(evidence.EventLog.Count);
        foreach (MeasurementEvent e in evidence.EventLog)
        {
            w.WriteStartArray(3);
            w.WriteInt32(e.Pcr);
            w.WriteInt32((int)e.Kind);
            w.WriteByteString(e.Digest);
            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteInt32(6); w.WriteByteString(evidence.SignedReport);
        w.WriteEndMap();
        return w.Encode();
    }

    /// <summary>Decodes evidence strictly (canonical CBOR, exact keys, 32-byte digests, PCRs 0–23 ascending).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out AttestationEvidence? evidence, out int consumed)
    {
        evidence = null;
        consumed = 0;
        var r = new CborReader(data.ToArray(), CborConformanceMode.Ctap2Canonical, allowMultipleRootLevelValues: true);
        try
        {
            if (r.ReadStartMap() != 6 || !Key(r, 1)) return false;
            byte[] attest = Blob(r);
            if (!Key(r, 2)) return false;
            byte[] signature = Blob(r);
            if (!Key(r, 3)) return false;
            byte[] ak = Blob(r);
            if (!Key(r, 4)) return false;
            int? n = r.ReadStartArray();
            if (n is null or 0 or > PcrBankSelection.PcrCount) return false;
            var pcrs = new SortedDictionary<int, byte[]>();
            int previous = -1;
            for (int i = 0; i < n; i++)
            {
                if (r.ReadStartArray() != 2) return false;
                ulong index = r.ReadUInt64();
                byte[] value = r.ReadByteString();
                r.ReadEndArray();
                if (index >= PcrBankSelection.PcrCount || (int)index <= previous || value.Length != DigestLength) return false;
                previous = (int)index;
                pcrs[(int)index] = value;
            }

            r.ReadEndArray();
            if (!Key(r, 5)) return false;
            int? events = r.ReadStartArray();
            if (events is null or > 64) return false;
            var log = new List<MeasurementEvent>(events.Value);
            for (int i = 0; i < events; i++)
            {
                if (r.ReadStartArray() != 3) return false;
                ulong pcr = r.ReadUInt64();
                ulong kind = r.ReadUInt64();
                byte[] digest = r.ReadByteString();
                r.ReadEndArray();
                if (pcr >= PcrBankSelection.PcrCount || !Enum.IsDefined((MeasurementEventKind)(int)Math.Min(kind, int.MaxValue)) || digest.Length != DigestLength) return false;
                log.Add(new MeasurementEvent((int)pcr, (MeasurementEventKind)kind, digest));
            }

            r.ReadEndArray();
            if (!Key(r, 6)) return false;
            byte[] report = Blob(r);
            r.ReadEndMap();
            if (r.BytesRemaining != 0) return false;
            consumed = data.Length;
            evidence = new AttestationEvidence
            {
                Quote = new TpmQuote(attest, signature), AttestationKeyPublic = ak, PcrValues = pcrs, EventLog = log, SignedReport = report,
            };
            return true;
        }
        catch (CborContentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    private static bool Key(CborReader r, int expected) => r.PeekState() == CborReaderState.UnsignedInteger && r.ReadUInt64() == (ulong)expected;

    private static byte[] Blob(CborReader r)
    {
        byte[] b = r.ReadByteString();
        if (b.Length is 0 or > MaxBlob) throw new InvalidOperationException("blob size");
        return b;
    }
}
