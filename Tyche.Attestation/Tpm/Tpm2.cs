// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Threading;

namespace Tyche.Attestation.Tpm;

/// <summary>A loaded TPM object: its handle, public area and Name.</summary>
/// <param name="Handle">The transient or persistent handle.</param>
/// <param name="Public">The parsed public area (raw bytes kept).</param>
/// <param name="Name">The Name the TPM reported, checked against <c>000B || SHA-256(TPMT_PUBLIC)</c>.</param>
public sealed record TpmObject(uint Handle, TpmPublic Public, byte[] Name);

/// <summary>A quote as the TPM produced it: the raw TPMS_ATTEST and TPMT_SIGNATURE bytes (tpm2_quote's -m and -s files).</summary>
/// <param name="Attest">Marshalled TPMS_ATTEST.</param>
/// <param name="Signature">Marshalled TPMT_SIGNATURE.</param>
public sealed record TpmQuote(byte[] Attest, byte[] Signature);

/// <summary>
/// A small managed TPM 2.0 client: one method per command, typed arguments, strict response parsing (tag, size,
/// handles, parameter size, session area and no trailing bytes), retries on TPM_RC_RETRY / YIELDED / TESTING, and
/// TPM errors raised as <see cref="TpmException"/> with a decoded response code. Authorization uses the empty
/// password session (TPM_RS_PW) and, for the EK in <see cref="ActivateCredential"/>, a PolicySecret(endorsement)
/// policy session. Not thread-safe: one command at a time per instance.
/// </summary>
public sealed class Tpm2 : IDisposable
{
    /// <summary>How often a transient failure (RETRY, YIELDED, TESTING) is retried before giving up.</summary>
    public const int MaxRetries = 20;

    // Part 2 §8.4 TPMA_SESSION bit 0: continueSession.
    private const byte SessionContinue = 0x01;
    // Part 2 §6.2 TPM_SE_POLICY.
    private const byte SessionTypePolicy = 0x01;
    // TPM_SU_CLEAR (Part 2 §6.11).
    private const ushort StartupClear = 0x0000;
    // NV chunk below every TPM's TPM_PT_NV_BUFFER_MAX (swtpm: 1024).
    private const int NvChunk = 512;

    private readonly ITpmTransport _transport;
    private readonly bool _ownsTransport;

    /// <summary>Creates a client over a transport.</summary>
    /// <param name="transport">The transport.</param>
    /// <param name="ownsTransport">Whether <see cref="Dispose"/> disposes the transport.</param>
    public Tpm2(ITpmTransport transport, bool ownsTransport = true)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        _ownsTransport = ownsTransport;
    }

    /// <summary>Number of commands resent because of a transient response code (diagnostics).</summary>
    public int RetryCount { get; private set; }

    /// <summary>TPM2_Startup(CLEAR). TPM_RC_INITIALIZE (already started) is treated as success.</summary>
    public void Startup()
    {
        var p = new TpmWriter(2).U16(StartupClear);
        Execute(TpmCommandCode.Startup, [], 0, false, p, 0, acceptInitialize: true);
    }

    /// <summary>TPM2_Shutdown(CLEAR): an orderly shutdown before a power cycle.</summary>
    public void Shutdown()
    {
        var p = new TpmWriter(2).U16(StartupClear);
        Execute(TpmCommandCode.Shutdown, [], 0, false, p, 0);
    }

    /// <summary>TPM2_PCR_Extend of one SHA-256 digest into PCR <paramref name="pcr"/>.</summary>
    public void PcrExtend(int pcr, ReadOnlySpan<byte> sha256Digest)
    {
        if ((uint)pcr >= PcrBankSelection.PcrCount) throw new ArgumentOutOfRangeException(nameof(pcr));
        if (sha256Digest.Length != SHA256.HashSizeInBytes) throw new ArgumentException("A SHA-256 digest is 32 bytes.", nameof(sha256Digest));
        // TPML_DIGEST_VALUES: count, then TPMT_HA = hashAlg + digest (fixed size, not a TPM2B).
        var p = new TpmWriter(48).U32(1).U16((ushort)TpmAlgorithm.Sha256).Bytes(sha256Digest);
        Response r = Execute(TpmCommandCode.PcrExtend, [(uint)pcr], 1, true, p, 0);
        r.ExpectNoParameters(TpmCommandCode.PcrExtend);
    }

    /// <summary>TPM2_PCR_Reset (allowed at locality 0 for the debug PCR 16 and the application PCR 23 only).</summary>
    public void PcrReset(int pcr)
    {
        if ((uint)pcr >= PcrBankSelection.PcrCount) throw new ArgumentOutOfRangeException(nameof(pcr));
        Response r = Execute(TpmCommandCode.PcrReset, [(uint)pcr], 1, true, new TpmWriter(0), 0);
        r.ExpectNoParameters(TpmCommandCode.PcrReset);
    }

    /// <summary>TPM2_PCR_Read of every PCR selected in one bank (repeated, since one call returns at most 8 digests).</summary>
    /// <returns>PCR index → value, in ascending index order.</returns>
    public SortedDictionary<int, byte[]> PcrRead(PcrBankSelection selection)
    {
        var result = new SortedDictionary<int, byte[]>();
        uint remaining = selection.Mask;
        while (remaining != 0)
        {
            var p = new TpmWriter(16);
            PcrBankSelection.WriteList(p, [new PcrBankSelection(selection.Bank, remaining)]);
            Response resp = Execute(TpmCommandCode.PcrRead, [], 0, false, p, 0);
            var r = new TpmReader(resp.Parameters);
            r.U32(); // pcrUpdateCounter
            PcrBankSelection[] read = PcrBankSelection.ReadList(ref r);
            uint count = r.U32();
            if (!r.Ok || read.Length != 1 || read[0].Bank != selection.Bank || count > 8) throw Malformed(TpmCommandCode.PcrRead);
            int[] indices = read[0].Indices();
            if (indices.Length != count || (read[0].Mask & ~remaining) != 0) throw Malformed(TpmCommandCode.PcrRead);
            if (count == 0) throw new TpmException(TpmCommandCode.PcrRead, $"bank {selection.Bank} returned no values (is it active?)");
            foreach (int i in indices)
            {
                ReadOnlySpan<byte> v = r.B2(64);
                if (!r.Ok) throw Malformed(TpmCommandCode.PcrRead);
                result[i] = v.ToArray();
            }

            if (!r.AtEnd) throw Malformed(TpmCommandCode.PcrRead);
            remaining &= ~read[0].Mask;
        }

        return result;
    }

    /// <summary>TPM2_CreatePrimary from a marshalled TPMT_PUBLIC template (see <see cref="TpmTemplates"/>).</summary>
    /// <param name="hierarchy">The hierarchy, e.g. <see cref="TpmHandles.Endorsement"/>.</param>
    /// <param name="template">The TPMT_PUBLIC template bytes.</param>
    public TpmObject CreatePrimary(uint hierarchy, ReadOnlySpan<byte> template)
    {
        var p = new TpmWriter(512);
        p.U16(4).U16(0).U16(0); // TPM2B_SENSITIVE_CREATE { userAuth = empty, data = empty }
        p.B2(template);         // TPM2B_PUBLIC
        p.U16(0);               // outsideInfo
        p.U32(0);               // creationPCR: empty TPML_PCR_SELECTION
        Response resp = Execute(TpmCommandCode.CreatePrimary, [hierarchy], 1, true, p, 1);
        var r = new TpmReader(resp.Parameters);
        ReadOnlySpan<byte> publicArea = r.B2();
        r.B2();                 // creationData
        r.B2(64);               // creationHash
        r.U16(); r.U32(); r.B2(64); // creationTicket
        ReadOnlySpan<byte> name = r.B2(34);
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.CreatePrimary);
        uint handle = resp.Handle;
        if (!TpmPublic.TryDecode(publicArea, out TpmPublic? pub, out int consumed) || consumed != publicArea.Length)
        {
            TryFlush(handle);
            throw Malformed(TpmCommandCode.CreatePrimary);
        }

        TpmObject obj = new(handle, pub!, name.ToArray());
        if (!name.SequenceEqual(pub!.ComputeName()))
        {
            TryFlush(handle);
            throw new TpmException(TpmCommandCode.CreatePrimary, "the returned Name does not match the returned public area");
        }

        return obj;
    }

    /// <summary>TPM2_ReadPublic: the public area, Name and qualified name of a loaded object.</summary>
    public (TpmObject Object, byte[] QualifiedName) ReadPublic(uint handle)
    {
        var p = new TpmWriter(0);
        Response resp = Execute(TpmCommandCode.ReadPublic, [handle], 0, false, p, 0);
        var r = new TpmReader(resp.Parameters);
        ReadOnlySpan<byte> publicArea = r.B2();
        ReadOnlySpan<byte> name = r.B2(34);
        ReadOnlySpan<byte> qn = r.B2(34);
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.ReadPublic);
        if (!TpmPublic.TryDecode(publicArea, out TpmPublic? pub, out int consumed) || consumed != publicArea.Length) throw Malformed(TpmCommandCode.ReadPublic);
        if (!name.SequenceEqual(pub!.ComputeName())) throw new TpmException(TpmCommandCode.ReadPublic, "the returned Name does not match the returned public area");
        return (new TpmObject(handle, pub, name.ToArray()), qn.ToArray());
    }

    /// <summary>TPM2_Quote over the selected PCRs with the key's own scheme and the verifier's nonce as qualifying data.</summary>
    /// <param name="signingKey">The restricted signing key's handle.</param>
    /// <param name="nonce">The verifier's nonce (the TPM accepts 0–64 bytes; verifiers must require at least 16).</param>
    /// <param name="selection">The PCR banks and indices to quote.</param>
    public TpmQuote Quote(uint signingKey, ReadOnlySpan<byte> nonce, IReadOnlyList<PcrBankSelection> selection)
    {
        var p = new TpmWriter(96);
        p.B2(nonce);
        p.U16((ushort)TpmAlgorithm.Null); // inScheme: use the key's scheme
        PcrBankSelection.WriteList(p, selection);
        Response resp = Execute(TpmCommandCode.Quote, [signingKey], 1, true, p, 0);
        var r = new TpmReader(resp.Parameters);
        ReadOnlySpan<byte> attest = r.B2();
        int sigStart = r.Position;
        ReadOnlySpan<byte> all = resp.Parameters;
        if (!r.Ok) throw Malformed(TpmCommandCode.Quote);
        if (!TpmSignature.TryDecode(all[sigStart..], out _, out int sigLength) || sigStart + sigLength != all.Length) throw Malformed(TpmCommandCode.Quote);
        if (!TpmsAttest.TryDecode(attest, out _, out int attestLength) || attestLength != attest.Length) throw Malformed(TpmCommandCode.Quote);
        return new TpmQuote(attest.ToArray(), all[sigStart..].ToArray());
    }

    /// <summary>TPM2_FlushContext: unloads a transient object or session (the handle is a parameter).</summary>
    public void FlushContext(uint handle)
    {
        var p = new TpmWriter(4).U32(handle);
        Execute(TpmCommandCode.FlushContext, [], 0, false, p, 0).ExpectNoParameters(TpmCommandCode.FlushContext);
    }

    /// <summary>Flushes and swallows TPM errors (for cleanup paths).</summary>
    public bool TryFlush(uint handle)
    {
        try
        {
            FlushContext(handle);
            return true;
        }
        catch (TpmException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES): up to <paramref name="count"/> properties from <paramref name="first"/>.</summary>
    public SortedDictionary<uint, uint> GetTpmProperties(uint first, uint count)
    {
        ReadOnlySpan<byte> data = GetCapability(TpmCapabilities.TpmProperties, first, count, out _);
        var r = new TpmReader(data);
        uint n = r.U32();
        if (!r.Ok || n > 256) throw Malformed(TpmCommandCode.GetCapability);
        var result = new SortedDictionary<uint, uint>();
        for (int i = 0; i < n; i++) result[r.U32()] = r.U32();
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.GetCapability);
        return result;
    }

    /// <summary>TPM2_GetCapability(TPM_CAP_HANDLES) for handles starting at <paramref name="first"/>.</summary>
    public uint[] GetHandles(uint first, uint count = 64)
    {
        ReadOnlySpan<byte> data = GetCapability(TpmCapabilities.Handles, first, count, out _);
        var r = new TpmReader(data);
        uint n = r.U32();
        if (!r.Ok || n > 256) throw Malformed(TpmCommandCode.GetCapability);
        uint[] handles = new uint[n];
        for (int i = 0; i < n; i++) handles[i] = r.U32();
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.GetCapability);
        return handles;
    }

    /// <summary>TPM2_GetCapability(TPM_CAP_PCRS): the PCR banks and which PCRs are allocated in each.</summary>
    public PcrBankSelection[] GetPcrBanks()
    {
        ReadOnlySpan<byte> data = GetCapability(TpmCapabilities.Pcrs, 0, 1, out _);
        var r = new TpmReader(data);
        PcrBankSelection[] banks = PcrBankSelection.ReadList(ref r);
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.GetCapability);
        return banks;
    }

    private byte[] GetCapability(uint capability, uint property, uint count, out bool moreData)
    {
        var p = new TpmWriter(12).U32(capability).U32(property).U32(count);
        Response resp = Execute(TpmCommandCode.GetCapability, [], 0, false, p, 0);
        var r = new TpmReader(resp.Parameters);
        byte more = r.U8();
        uint cap = r.U32();
        if (!r.Ok || cap != capability || more > 1) throw Malformed(TpmCommandCode.GetCapability);
        moreData = more == 1;
        return resp.Parameters.AsSpan(r.Position).ToArray();
    }

    /// <summary>Reads a whole NV index (e.g. the EK certificate at <see cref="TpmHandles.RsaEkCertificateNvIndex"/>) with owner authorization.</summary>
    public byte[] NvReadAll(uint nvIndex)
    {
        Response pub = Execute(TpmCommandCode.NvReadPublic, [nvIndex], 0, false, new TpmWriter(0), 0);
        var r = new TpmReader(pub.Parameters);
        ReadOnlySpan<byte> nvPublic = r.B2();
        r.B2(34);
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.NvReadPublic);
        var pr = new TpmReader(nvPublic);
        uint index = pr.U32();
        pr.U16(); pr.U32(); pr.B2(64);
        ushort size = pr.U16();
        if (!pr.Ok || !pr.AtEnd || index != nvIndex) throw Malformed(TpmCommandCode.NvReadPublic);
        byte[] data = new byte[size];
        for (int offset = 0; offset < size; offset += NvChunk)
        {
            int chunk = Math.Min(NvChunk, size - offset);
            var p = new TpmWriter(4).U16((ushort)chunk).U16((ushort)offset);
            Response resp = Execute(TpmCommandCode.NvRead, [TpmHandles.Owner, nvIndex], 1, true, p, 0);
            var rr = new TpmReader(resp.Parameters);
            ReadOnlySpan<byte> part = rr.B2();
            if (!rr.Ok || !rr.AtEnd || part.Length != chunk) throw Malformed(TpmCommandCode.NvRead);
            part.CopyTo(data.AsSpan(offset));
        }

        return data;
    }

    /// <summary>
    /// TPM2_ActivateCredential: the TPM decrypts a credential made for (<paramref name="activateHandle"/>'s Name,
    /// <paramref name="endorsementKey"/>) and returns it, which proves both keys are loaded in this TPM. The EK's
    /// USER role is satisfied with a PolicySecret(TPM_RH_ENDORSEMENT) session (the standard EK policy A).
    /// </summary>
    public byte[] ActivateCredential(uint activateHandle, uint endorsementKey, ReadOnlySpan<byte> credentialBlob, ReadOnlySpan<byte> encryptedSecret)
    {
        uint session = StartPolicySession();
        try
        {
            // PolicySecret(authHandle = endorsement, policySession): nonceTPM, cpHashA, policyRef empty; expiration 0.
            var ps = new TpmWriter(16).U16(0).U16(0).U16(0).U32(0);
            Response psr = Execute(TpmCommandCode.PolicySecret, [TpmHandles.Endorsement, session], 1, true, ps, 0);
            var r = new TpmReader(psr.Parameters);
            r.B2(); // timeout
            r.U16(); r.U32(); r.B2(64); // policyTicket
            if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.PolicySecret);

            var p = new TpmWriter(512).B2(credentialBlob).B2(encryptedSecret);
            Response resp = Execute(TpmCommandCode.ActivateCredential, [activateHandle, endorsementKey], 2, true, p, 0, policySession: session);
            session = 0; // continueSession was clear: the TPM flushed it.
            var ar = new TpmReader(resp.Parameters);
            ReadOnlySpan<byte> cert = ar.B2(64);
            if (!ar.Ok || !ar.AtEnd) throw Malformed(TpmCommandCode.ActivateCredential);
            return cert.ToArray();
        }
        finally
        {
            if (session != 0) TryFlush(session);
        }
    }

    private uint StartPolicySession()
    {
        byte[] nonce = RandomNumberGenerator.GetBytes(16);
        var p = new TpmWriter(32).B2(nonce).U16(0).U8(SessionTypePolicy).U16((ushort)TpmAlgorithm.Null).U16((ushort)TpmAlgorithm.Sha256);
        Response resp = Execute(TpmCommandCode.StartAuthSession, [TpmHandles.Null, TpmHandles.Null], 0, false, p, 1);
        var r = new TpmReader(resp.Parameters);
        r.B2(64);
        if (!r.Ok || !r.AtEnd) throw Malformed(TpmCommandCode.StartAuthSession);
        return resp.Handle;
    }

    private static TpmException Malformed(TpmCommandCode cc) => new(cc, "malformed response (size, count or trailing bytes)");

    private sealed class Response
    {
        public uint Handle;
        public byte[] Parameters = [];

        public void ExpectNoParameters(TpmCommandCode cc)
        {
            if (Parameters.Length != 0) throw Malformed(cc);
        }
    }

    private Response Execute(TpmCommandCode cc, uint[] handles, int authorizedHandles, bool withSessions, TpmWriter parameters, int responseHandles, bool acceptInitialize = false, uint policySession = 0)
    {
        var w = new TpmWriter(TpmWireLimits.HeaderSize + 64 + parameters.Length);
        w.U16((ushort)(withSessions ? TpmStructureTag.Sessions : TpmStructureTag.NoSessions)).U32(0).U32((uint)cc);
        foreach (uint h in handles) w.U32(h);
        int sessionCount = 0;
        if (withSessions)
        {
            var auth = new TpmWriter(64);
            for (int i = 0; i < authorizedHandles; i++)
            {
                if (i == 1 && policySession != 0)
                {
                    // Policy session without authValue/password: empty HMAC (Part 1 §19.6.14).
                    auth.U32(policySession).U16(0).U8(0).U16(0);
                }
                else
                {
                    auth.U32(TpmHandles.PasswordSession).U16(0).U8(SessionContinue).U16(0);
                }

                sessionCount++;
            }

            w.U32((uint)auth.Length).Bytes(auth.Written);
        }

        w.Bytes(parameters.Written);
        w.PatchU32(2, (uint)w.Length);
        byte[] command = w.ToArray();

        for (int attempt = 0; ; attempt++)
        {
            byte[] response = _transport.Transmit(command);
            var r = new TpmReader(response);
            var tag = (TpmStructureTag)r.U16();
            uint size = r.U32();
            var rc = new TpmResponseCode(r.U32());
            if (!r.Ok || size != response.Length) throw new TpmException(cc, $"response size field {size} does not match {response.Length} received bytes");
            if (rc.IsTransient && attempt < MaxRetries)
            {
                RetryCount++;
                Thread.Sleep(Math.Min(1 + attempt * 2, 20));
                continue;
            }

            if (!rc.IsSuccess)
            {
                if (acceptInitialize && rc.Value == TpmResponseCode.Initialize) return new Response();
                if (!r.AtEnd || tag != TpmStructureTag.NoSessions) throw new TpmException(cc, $"error response {rc} carries {r.Remaining} unexpected bytes or tag 0x{(ushort)tag:X4}");
                throw new TpmException(cc, rc);
            }

            var result = new Response();
            if (responseHandles == 1) result.Handle = r.U32();
            if (tag == TpmStructureTag.Sessions)
            {
                if (!withSessions) throw new TpmException(cc, "response has a session area but the command had none");
                uint parameterSize = r.U32();
                if (!r.Ok || parameterSize > r.Remaining) throw Malformed(cc);
                result.Parameters = r.Take((int)parameterSize).ToArray();
                for (int i = 0; i < sessionCount; i++)
                {
                    r.B2(64); // nonceTPM
                    r.U8();   // sessionAttributes
                    r.B2(64); // hmac
                }

                if (!r.Ok || !r.AtEnd) throw new TpmException(cc, "malformed response session area");
            }
            else if (tag == TpmStructureTag.NoSessions)
            {
                if (withSessions) throw new TpmException(cc, "response lacks the session area the command requested");
                if (!r.Ok) throw Malformed(cc);
                result.Parameters = r.Take(r.Remaining).ToArray();
            }
            else
            {
                throw new TpmException(cc, $"unexpected response tag 0x{(ushort)tag:X4}");
            }

            return result;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ownsTransport) _transport.Dispose();
    }
}
