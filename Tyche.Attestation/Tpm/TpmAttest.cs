// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Numerics;
using System.Text;

namespace Tyche.Attestation.Tpm;

/// <summary>The PCRs of one bank in a TPMS_PCR_SELECTION (Part 2 §10.6.2): a hash algorithm and a bitmap of indices.</summary>
/// <param name="Bank">The PCR bank's hash algorithm.</param>
/// <param name="Mask">Bit <c>i</c> set selects PCR <c>i</c> (PCRs 0–23 on a PC-client TPM).</param>
public readonly record struct PcrBankSelection(TpmAlgorithm Bank, uint Mask)
{
    /// <summary>Number of PCRs a PC-client TPM implements (TCG PC Client Platform TPM Profile §4.6).</summary>
    public const int PcrCount = 24;

    /// <summary>Bytes of the select bitmap for 24 PCRs (<c>sizeofSelect</c>).</summary>
    public const int SelectSize = 3;

    /// <summary>Selects the given PCRs in one bank.</summary>
    public static PcrBankSelection Of(TpmAlgorithm bank, params int[] pcrs)
    {
        uint mask = 0;
        foreach (int p in pcrs)
        {
            if ((uint)p >= PcrCount) throw new ArgumentOutOfRangeException(nameof(pcrs), p, "PCR index must be 0..23.");
            mask |= 1u << p;
        }

        return new PcrBankSelection(bank, mask);
    }

    /// <summary>The selected indices in ascending order (the order PCR values are digested in a quote).</summary>
    public int[] Indices()
    {
        var list = new int[BitOperations.PopCount(Mask)];
        int n = 0;
        for (int i = 0; i < 32; i++)
        {
            if ((Mask & (1u << i)) != 0) list[n++] = i;
        }

        return list;
    }

    /// <summary>Formats as tpm2-tools does, e.g. <c>sha256:0,16</c>.</summary>
    public override string ToString() =>
        (Bank == TpmAlgorithm.Sha256 ? "sha256" : Bank.ToString().ToLowerInvariant()) + ":" + string.Join(",", Indices());

    internal void Write(TpmWriter w)
    {
        w.U16((ushort)Bank).U8(SelectSize);
        w.U8((byte)Mask).U8((byte)(Mask >> 8)).U8((byte)(Mask >> 16));
    }

    internal static void WriteList(TpmWriter w, IReadOnlyList<PcrBankSelection> banks)
    {
        w.U32((uint)banks.Count);
        foreach (PcrBankSelection b in banks) b.Write(w);
    }

    /// <summary>Reads a TPML_PCR_SELECTION (at most 16 banks, select bitmaps of 1–4 bytes).</summary>
    internal static PcrBankSelection[] ReadList(ref TpmReader r)
    {
        uint count = r.U32();
        if (!r.Ok || count > 16)
        {
            r.Fail();
            return [];
        }

        var result = new PcrBankSelection[count];
        for (int i = 0; i < count; i++)
        {
            var bank = (TpmAlgorithm)r.U16();
            byte size = r.U8();
            if (size is 0 or > 4)
            {
                r.Fail();
                return [];
            }

            ReadOnlySpan<byte> select = r.Take(size);
            uint mask = 0;
            for (int b = 0; b < select.Length; b++) mask |= (uint)select[b] << (8 * b);
            result[i] = new PcrBankSelection(bank, mask);
        }

        return result;
    }
}

/// <summary>TPMS_CLOCK_INFO (Part 2 §10.11.1).</summary>
/// <param name="Clock">Milliseconds the TPM has been powered since its last clear.</param>
/// <param name="ResetCount">TPM resets (reboots) since the last clear.</param>
/// <param name="RestartCount">Restarts/resumes since the last reset.</param>
/// <param name="Safe">Whether the clock value is known not to have been reported before (orderly shutdown).</param>
public readonly record struct TpmClockInfo(ulong Clock, uint ResetCount, uint RestartCount, bool Safe);

/// <summary>A parsed TPMS_ATTEST (Part 2 §10.12.12), with quote information when its type is TPM_ST_ATTEST_QUOTE.</summary>
public sealed class TpmsAttest
{
    private TpmsAttest()
    {
    }

    /// <summary>The magic value (must be TPM_GENERATED_VALUE).</summary>
    public uint Magic { get; private init; }

    /// <summary>The structure type (TPM_ST_ATTEST_QUOTE for a quote).</summary>
    public TpmStructureTag Type { get; private init; }

    /// <summary>The qualified name of the signing key.</summary>
    public ReadOnlyMemory<byte> QualifiedSigner { get; private init; }

    /// <summary>The caller's qualifying data (the verifier's nonce).</summary>
    public ReadOnlyMemory<byte> ExtraData { get; private init; }

    /// <summary>Clock, reset and restart counters.</summary>
    public TpmClockInfo ClockInfo { get; private init; }

    /// <summary>The TPM firmware version.</summary>
    public ulong FirmwareVersion { get; private init; }

    /// <summary>The quoted PCR selection (quotes only; empty otherwise).</summary>
    public IReadOnlyList<PcrBankSelection> PcrSelection { get; private init; } = [];

    /// <summary>The digest of the selected PCR values (quotes only).</summary>
    public ReadOnlyMemory<byte> PcrDigest { get; private init; }

    /// <summary>
    /// Decodes a TPMS_ATTEST. For a quote the whole structure is parsed and no trailing byte is allowed
    /// (<paramref name="consumed"/> equals the input length). Other attestation types are decoded up to the
    /// firmware version; their type-specific body is not interpreted.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out TpmsAttest? value, out int consumed)
    {
        value = null;
        consumed = 0;
        var r = new TpmReader(data);
        uint magic = r.U32();
        var type = (TpmStructureTag)r.U16();
        ReadOnlySpan<byte> signer = r.B2(2 + 64);
        ReadOnlySpan<byte> extra = r.B2(64 + 2);
        ulong clock = r.U64();
        uint reset = r.U32();
        uint restart = r.U32();
        byte safe = r.U8();
        ulong firmware = r.U64();
        if (!r.Ok || safe > 1) return false;
        PcrBankSelection[] selection = [];
        ReadOnlySpan<byte> digest = default;
        if (type == TpmStructureTag.AttestQuote)
        {
            selection = PcrBankSelection.ReadList(ref r);
            digest = r.B2(64);
            if (!r.Ok || !r.AtEnd) return false;
        }

        consumed = r.Position;
        value = new TpmsAttest
        {
            Magic = magic, Type = type, QualifiedSigner = signer.ToArray(), ExtraData = extra.ToArray(),
            ClockInfo = new TpmClockInfo(clock, reset, restart, safe == 1), FirmwareVersion = firmware,
            PcrSelection = selection, PcrDigest = digest.ToArray(),
        };
        return true;
    }

    /// <summary>A one-line description for logs.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("TPMS_ATTEST magic=0x").Append(Magic.ToString("X8", System.Globalization.CultureInfo.InvariantCulture))
          .Append(" type=").Append(Type).Append(" pcrs=").Append(string.Join(";", PcrSelection))
          .Append(" resetCount=").Append(ClockInfo.ResetCount).Append(" safe=").Append(ClockInfo.Safe);
        return sb.ToString();
    }
}

/// <summary>A parsed TPMT_SIGNATURE (Part 2 §11.3.4) of scheme ECDSA, RSASSA or RSAPSS.</summary>
public sealed class TpmSignature
{
    private TpmSignature()
    {
    }

    /// <summary>The signature scheme.</summary>
    public TpmAlgorithm Scheme { get; private init; }

    /// <summary>The hash algorithm the TPM signed with.</summary>
    public TpmAlgorithm Hash { get; private init; }

    /// <summary>ECDSA r (ECDSA only, as returned: may be shorter than the field size).</summary>
    public ReadOnlyMemory<byte> R { get; private init; }

    /// <summary>ECDSA s (ECDSA only).</summary>
    public ReadOnlyMemory<byte> S { get; private init; }

    /// <summary>The RSA signature (RSASSA/RSAPSS only).</summary>
    public ReadOnlyMemory<byte> RsaSignature { get; private init; }

    /// <summary>Decodes a TPMT_SIGNATURE; unsupported schemes and truncated input return false.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out TpmSignature? value, out int consumed)
    {
        value = null;
        consumed = 0;
        var r = new TpmReader(data);
        var scheme = (TpmAlgorithm)r.U16();
        var hash = (TpmAlgorithm)r.U16();
        if (!r.Ok) return false;
        if (scheme == TpmAlgorithm.EcDsa)
        {
            ReadOnlySpan<byte> rr = r.B2(66);
            ReadOnlySpan<byte> ss = r.B2(66);
            if (!r.Ok) return false;
            consumed = r.Position;
            value = new TpmSignature { Scheme = scheme, Hash = hash, R = rr.ToArray(), S = ss.ToArray() };
            return true;
        }

        if (scheme is TpmAlgorithm.RsaSsa or TpmAlgorithm.RsaPss)
        {
            ReadOnlySpan<byte> sig = r.B2(512);
            if (!r.Ok) return false;
            consumed = r.Position;
            value = new TpmSignature { Scheme = scheme, Hash = hash, RsaSignature = sig.ToArray() };
            return true;
        }

        return false;
    }
}
