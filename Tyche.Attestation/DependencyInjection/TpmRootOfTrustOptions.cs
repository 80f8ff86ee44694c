// SPDX-License-Identifier: Apache-2.0
using Tyche.Attestation.Tpm;

namespace Tyche.Attestation;

/// <summary>
/// Where the TPM of <see cref="AttestationServiceCollectionExtensions.AddTpmRootOfTrust"/> is: a TCP endpoint (swtpm's
/// <c>--server type=tcp</c>) or a Linux device (<c>/dev/tpmrm0</c>). Exactly one of <see cref="Port"/> and
/// <see cref="DevicePath"/> must be set.
/// </summary>
public sealed class TpmRootOfTrustOptions
{
    /// <summary>Host of a TCP TPM (swtpm). Default <c>127.0.0.1</c>.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port of the TPM command channel (swtpm's <c>port=</c>; 2321 by convention), or 0 when <see cref="DevicePath"/> is used.</summary>
    public int Port { get; set; }

    /// <summary>Framing on the TCP channel: <see cref="TpmStreamFraming.Raw"/> for swtpm's plain socket (default), mssim for the simulator protocol.</summary>
    public TpmStreamFraming Framing { get; set; } = TpmStreamFraming.Raw;

    /// <summary>Path of a Linux TPM device (normally <c>/dev/tpmrm0</c>, the resource-managed one), or null when a TCP endpoint is used.</summary>
    public string? DevicePath { get; set; }

    /// <summary>The PCR the monitor is measured into; must be resettable from locality 0 (16 or 23). Default 23.</summary>
    public int Pcr { get; set; } = MeasuredLaunch.DefaultPcr;
}
