// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tyche.Attestation.Reports;
using Tyche.Attestation.Tpm;
using Tyche.Attestation.Verification;
using Tyche.Capabilities;

namespace Tyche.Attestation;

/// <summary>
/// The monitor's attestation facade: it owns the monitor attestation key, measures the monitor at launch through the
/// <see cref="IRootOfTrust"/> (tier 1), and turns a set of domains plus a verifier's nonce into
/// <see cref="AttestationEvidence"/>: a TPM quote of the monitor PCR, the event log and a CMS-signed CBOR report (tier 2).
/// It only reads the engine. Each attestation is logged (which domains, which root of trust).
/// </summary>
public sealed partial class MonitorAttestation : IDisposable
{
    private readonly CapabilityEngine _engine;
    private readonly IRootOfTrust _root;
    private readonly ReportBuilder _reports;
    private readonly ReportSigner _signer;
    private readonly ILogger _logger;
    private IReadOnlyList<MeasurementEvent>? _log;
    private MonitorIdentity? _identity;

    /// <summary>Creates the facade and generates the monitor attestation key.</summary>
    /// <param name="engine">The engine to report on (read only).</param>
    /// <param name="root">The root of trust.</param>
    /// <param name="memory">Physical memory contents for measurements of HASH-flagged regions; null when none are needed.</param>
    /// <param name="logger">Where attestations are logged; null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="engine"/> or <paramref name="root"/> is null.</exception>
    public MonitorAttestation(CapabilityEngine engine, IRootOfTrust root, IPhysicalMemoryReader? memory = null, ILogger<MonitorAttestation>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(root);
        _engine = engine;
        _root = root;
        _reports = new ReportBuilder(engine, memory);
        Key = MonitorAttestationKey.Generate();
        _signer = new ReportSigner(Key);
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The root of trust the quotes come from.</summary>
    public IRootOfTrust RootOfTrust => _root;

    /// <summary>The monitor attestation key (its certificate signs the reports; its SubjectPublicKeyInfo is measured at launch).</summary>
    public MonitorAttestationKey Key { get; }

    /// <summary>The measured-launch event log, once <see cref="Launch"/> ran.</summary>
    public IReadOnlyList<MeasurementEvent> EventLog => _log ?? [];

    /// <summary>The monitor identity the reports carry, once <see cref="Launch"/> ran.</summary>
    public MonitorIdentity? Identity => _identity;

    /// <summary>Measures the monitor image and the monitor attestation key into the root of trust's PCR (after resetting it).</summary>
    /// <param name="monitorImage">The monitor image bytes.</param>
    public void Launch(ReadOnlySpan<byte> monitorImage)
    {
        byte[] spki = Key.SubjectPublicKeyInfo;
        _log = _root.MeasureLaunch(monitorImage, spki);
        _identity = new MonitorIdentity(SHA256.HashData(monitorImage), MeasuredLaunch.KeyDigest(spki), _root.Pcr);
        MonitorLaunched(_root.Pcr, _root.Description);
    }

    /// <summary>Attests a composition of domains: report, signature, quote.</summary>
    /// <param name="domains">The domains (e.g. the SaaS application, its GPU and its crypto engine).</param>
    /// <param name="nonce">The verifier's nonce.</param>
    /// <param name="evidence">The evidence on success.</param>
    /// <returns><see cref="CapabilityError.Ok"/>, or the engine's error for a dead domain (nothing is quoted then).</returns>
    /// <exception cref="InvalidOperationException"><see cref="Launch"/> has not run.</exception>
    public CapabilityError TryAttest(ReadOnlySpan<DomainHandle> domains, ReadOnlySpan<byte> nonce, out AttestationEvidence? evidence)
    {
        evidence = null;
        MonitorIdentity identity = _identity ?? throw new InvalidOperationException("Call Launch(monitorImage) before attesting: the monitor must be measured first.");
        CapabilityError error = domains.Length == 1
            ? _reports.TryBuildDomainReport(domains[0], nonce, identity, out AttestationReport? report)
            : _reports.TryBuildCompositionReport(domains, nonce, identity, out report);
        if (error != CapabilityError.Ok)
        {
            return error;
        }

        byte[] signed = _signer.Sign(report!);
        RootOfTrustQuote quote = _root.Quote(nonce);
        evidence = new AttestationEvidence
        {
            Quote = quote.Quote,
            AttestationKeyPublic = quote.AttestationKeyPublic,
            PcrValues = quote.PcrValues,
            EventLog = EventLog,
            SignedReport = signed,
        };
        if (_logger.IsEnabled(LogLevel.Information))
        {
            List<string> ids = new(domains.Length);
            foreach (DomainHandle domain in domains)
            {
                ids.Add(domain.ToString());
            }

            DomainsAttested(string.Join(", ", ids), _root.Description);
        }

        return CapabilityError.Ok;
    }

    /// <summary>Disposes the monitor key (and the root of trust when it is disposable and owned by no container).</summary>
    public void Dispose() => Key.Dispose();

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Tyche monitor measured into PCR {Pcr} of {RootOfTrust}")]
    private partial void MonitorLaunched(int pcr, string rootOfTrust);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Tyche domains {Domains} attested through {RootOfTrust}")]
    private partial void DomainsAttested(string domains, string rootOfTrust);
}
