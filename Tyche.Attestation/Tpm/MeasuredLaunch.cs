// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Security.Cryptography;

namespace Tyche.Attestation.Tpm;

/// <summary>What a measured-launch event measured.</summary>
public enum MeasurementEventKind
{
    /// <summary>SHA-256 of the monitor image.</summary>
    MonitorImage = 1,
    /// <summary>SHA-256 of the monitor attestation key's X.509 SubjectPublicKeyInfo (DER).</summary>
    MonitorAttestationKey = 2,
}

/// <summary>One event of the measured-launch log: the digest extended into <paramref name="Pcr"/>.</summary>
/// <param name="Pcr">The PCR index.</param>
/// <param name="Kind">What was measured.</param>
/// <param name="Digest">The SHA-256 digest that was extended.</param>
public sealed record MeasurementEvent(int Pcr, MeasurementEventKind Kind, byte[] Digest);

/// <summary>
/// Simulated measured launch. The monitor image digest, then the digest of the monitor's attestation public key,
/// are extended into one PCR, so a quote over that PCR names both the monitor and the key it holds.
/// </summary>
/// <remarks>
/// PCR choice (<see cref="DefaultPcr"/> = 23, configurable): on a real platform the monitor is measured by a DRTM
/// (Intel TXT SENTER → PCR 17/18, locality 4), which software at locality 0 cannot reset. Without a DRTM, the
/// PCRs free for the monitor at locality 0 are 16 (debug) and 23 (application); both can be reset by anyone with
/// TPM access (TPM2_PCR_Reset), so a root attacker on the host could reset and replay good values. PCRs 8–15 are
/// not resettable but are used by GRUB (8/9), IMA (10), systemd-stub (11–13), shim (14) and systemd (15). The
/// verifier therefore always replays the full event log of the PCR and requires it to contain exactly the monitor
/// image and the monitor key, in that order. Tests use PCR 23 because swtpm lets them reset it between runs.
/// </remarks>
public static class MeasuredLaunch
{
    /// <summary>The default monitor PCR (PC Client "application support" PCR 23).</summary>
    public const int DefaultPcr = 23;

    /// <summary>Digest of a monitor attestation key as measured: SHA-256 of its SubjectPublicKeyInfo DER.</summary>
    public static byte[] KeyDigest(ReadOnlySpan<byte> subjectPublicKeyInfo) => SHA256.HashData(subjectPublicKeyInfo);

    /// <summary>Measures the monitor image and key into <paramref name="pcr"/> and returns the event log.</summary>
    /// <param name="tpm">The TPM.</param>
    /// <param name="monitorImage">The monitor image bytes.</param>
    /// <param name="monitorKeySubjectPublicKeyInfo">The monitor attestation key (SubjectPublicKeyInfo DER).</param>
    /// <param name="pcr">The PCR; it should be in its reset state (all zeros) for the log to replay.</param>
    public static IReadOnlyList<MeasurementEvent> Measure(Tpm2 tpm, ReadOnlySpan<byte> monitorImage, ReadOnlySpan<byte> monitorKeySubjectPublicKeyInfo, int pcr = DefaultPcr)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        byte[] image = SHA256.HashData(monitorImage);
        byte[] key = KeyDigest(monitorKeySubjectPublicKeyInfo);
        tpm.PcrExtend(pcr, image);
        tpm.PcrExtend(pcr, key);
        return [new MeasurementEvent(pcr, MeasurementEventKind.MonitorImage, image), new MeasurementEvent(pcr, MeasurementEventKind.MonitorAttestationKey, key)];
    }
}
