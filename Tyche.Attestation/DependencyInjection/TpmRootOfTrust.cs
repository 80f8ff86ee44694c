// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;

namespace Tyche.Attestation;

/// <summary>
/// A TPM 2.0 as the root of trust: an ECC P-256 restricted signing key created as a primary in the endorsement hierarchy
/// quotes the monitor PCR. The verifier pins that key (<see cref="TrustAnchors"/>); enrolling it through the EK chain and
/// credential activation is <see cref="AttestationKeyEnrollment"/>'s job.
/// </summary>
public sealed class TpmRootOfTrust : IRootOfTrust, IDisposable
{
    private readonly Tpm2 _tpm;
    private readonly TpmObject _attestationKey;

    /// <summary>Connects to the TPM the options name, starts it up and creates the attestation key.</summary>
    /// <param name="options">Where the TPM is.</param>
    /// <exception cref="TpmException">The TPM refused a command.</exception>
    /// <exception cref="System.IO.IOException">The TPM could not be reached.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The TCP endpoint refused the connection.</exception>
    public TpmRootOfTrust(TpmRootOfTrustOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Pcr = options.Pcr;
        ITpmTransport transport;
        if (!string.IsNullOrEmpty(options.DevicePath))
        {
            transport = new LinuxTpmDeviceTransport(options.DevicePath);
            Description = $"TPM 2.0 device {options.DevicePath}";
        }
        else
        {
            transport = StreamTpmTransport.ConnectTcp(options.Host, options.Port, options.Framing);
            Description = string.Create(CultureInfo.InvariantCulture, $"TPM 2.0 at {options.Host}:{options.Port} ({options.Framing} framing)");
        }

        _tpm = new Tpm2(transport);
        try
        {
            _tpm.Startup();
            _attestationKey = _tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.AttestationKeyEccP256());
            (_, byte[] qualifiedName) = _tpm.ReadPublic(_attestationKey.Handle);
            TrustAnchors = new VerifierTrustAnchors(_attestationKey.Public, qualifiedName);
        }
        catch
        {
            _tpm.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public bool IsTpm => true;

    /// <inheritdoc />
    public int Pcr { get; }

    /// <inheritdoc />
    public VerifierTrustAnchors TrustAnchors { get; }

    /// <inheritdoc />
    public IReadOnlyList<MeasurementEvent> MeasureLaunch(ReadOnlySpan<byte> monitorImage, ReadOnlySpan<byte> monitorKeySubjectPublicKeyInfo)
    {
        _tpm.PcrReset(Pcr);
        return MeasuredLaunch.Measure(_tpm, monitorImage, monitorKeySubjectPublicKeyInfo, Pcr);
    }

    /// <inheritdoc />
    public RootOfTrustQuote Quote(ReadOnlySpan<byte> nonce)
    {
        PcrBankSelection selection = PcrBankSelection.Of(TpmAlgorithm.Sha256, Pcr);
        TpmQuote quote = _tpm.Quote(_attestationKey.Handle, nonce, [selection]);
        SortedDictionary<int, byte[]> values = _tpm.PcrRead(selection);
        return new RootOfTrustQuote(quote, values, _attestationKey.Public.Raw.ToArray());
    }

    /// <summary>Flushes the attestation key and closes the connection.</summary>
    public void Dispose()
    {
        _tpm.TryFlush(_attestationKey.Handle);
        _tpm.Dispose();
    }
}
