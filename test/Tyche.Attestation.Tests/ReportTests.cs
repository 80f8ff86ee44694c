// SPDX-License-Identifier: Apache-2.0
using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography.Pkcs;
using Tyche.Attestation.Reports;
using Tyche.Capabilities;

namespace Tyche.Attestation.Tests;

/// <summary>Reports built from a real engine, their canonical encoding, and CMS signatures checked by openssl.</summary>
public sealed class ReportTests
{
    private static readonly MonitorIdentity Monitor = new(new byte[32], Enumerable.Repeat((byte)7, 32).ToArray(), 23);
    private static readonly byte[] Nonce = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    private static byte[] Snapshot(CapabilityEngine e)
    {
        byte[] buffer = new byte[e.GetAttestationLength()];
        Assert.Equal(CapabilityError.Ok, e.TrySerializeAttestation(buffer, out int written));
        return buffer[..written];
    }

    [Fact]
    public void Domain_report_describes_memory_sharing_cores_devices_and_measurement()
    {
        var s = new TestScenario();
        byte[] before = Snapshot(s.Engine);
        FreeCapacity freeBefore = s.Engine.GetFreeCapacity();
        var builder = new ReportBuilder(s.Engine, s.Memory);
        Assert.Equal(CapabilityError.Ok, builder.TryBuildDomainReport(s.Enclave, Nonce, Monitor, out AttestationReport? report));
        Assert.Equal(before, Snapshot(s.Engine));
        Assert.Equal(freeBefore, s.Engine.GetFreeCapacity());

        ReportedDomain d = Assert.Single(report!.Domains);
        Assert.Equal(s.EnclaveId, d.Id);
        Assert.True(d.Sealed);
        Assert.Equal(s.Measurement, d.Measurement);
        Assert.Equal(s.ExpectedMeasurementFromManifest(), d.Measurement);
        Assert.Equal(2, d.Memory.Length);
        ReportedRange code = d.Memory[0], shared = d.Memory[1];
        Assert.Equal((0x1000ul, 0x3000ul, 1, 0), (code.Start, code.End, code.ReferenceCount, code.SharedWith.Length));
        Assert.Equal(MemoryOperations.Read | MemoryOperations.Execute, code.Rights);
        Assert.Equal((0x8000ul, 0x9000ul, 2), (shared.Start, shared.End, shared.ReferenceCount));
        Assert.Equal([s.ManagerId], shared.SharedWith);
        Assert.Equal([new ReportedCore(1, false)], d.Cores); // the manager may run on every core
        Assert.Equal([TestScenario.Nic], d.Devices);
    }

    [Fact]
    public void Composition_report_is_consistent_in_both_directions_and_roundtrips_canonically()
    {
        var s = new TestScenario();
        var builder = new ReportBuilder(s.Engine);
        Assert.Equal(CapabilityError.Ok, builder.TryBuildCompositionReport([s.Enclave, s.Manager], Nonce, Monitor, out AttestationReport? report));
        Assert.Equal([s.ManagerId, s.EnclaveId], report!.Domains.Select(d => d.Id).OrderBy(x => x));
        ReportedDomain manager = report.FindDomain(s.ManagerId)!;
        Assert.Null(manager.Measurement); // no memory reader and none stored
        ReportedRange mgrShared = manager.Memory.Single(r => r.Start == 0x8000);
        Assert.Equal([s.EnclaveId], mgrShared.SharedWith);
        Assert.DoesNotContain(manager.Memory, r => r.Start < 0x3000 && r.End > 0x1000); // granted code is gone from d0
        Assert.Equal(new ReportedCore(0, true), manager.Cores[0]);
        Assert.Equal(new ReportedCore(1, false), manager.Cores[1]);
        Assert.Equal(64, manager.Cores.Length);

        byte[] encoded = report.Encode();
        Assert.True(AttestationReport.TryDecode(encoded, out AttestationReport? decoded, out int consumed));
        Assert.Equal(encoded.Length, consumed);
        Assert.Equal(encoded, decoded!.Encode());
    }

    [Fact]
    public void Bad_requests_return_typed_errors_and_change_nothing()
    {
        var s = new TestScenario();
        byte[] before = Snapshot(s.Engine);
        var builder = new ReportBuilder(s.Engine, s.Memory);
        Assert.Equal(CapabilityError.InvalidValue, builder.TryBuildDomainReport(s.Enclave, ReadOnlySpan<byte>.Empty, Monitor, out AttestationReport? r1));
        Assert.Null(r1);
        Assert.Equal(CapabilityError.InvalidValue, builder.TryBuildCompositionReport([s.Enclave, s.Enclave], Nonce, Monitor, out _));
        Assert.Equal(CapabilityError.StaleDomain, builder.TryBuildDomainReport(new DomainHandle(60, 0), Nonce, Monitor, out AttestationReport? r2));
        Assert.Null(r2);
        Assert.Equal(before, Snapshot(s.Engine));
    }

    [Fact]
    public void Stale_domain_is_rejected_without_changing_the_engine()
    {
        var s = new TestScenario();
        var builder = new ReportBuilder(s.Engine, s.Memory);
        byte[] before = Snapshot(s.Engine);
        Assert.Equal(CapabilityError.StaleDomain, builder.TryBuildDomainReport(new DomainHandle(s.Enclave.Index, s.Enclave.Generation + 1), Nonce, Monitor, out _));
        Assert.Equal(before, Snapshot(s.Engine));
    }

    [Fact]
    public void Measurement_changes_with_contents_rights_and_configuration()
    {
        var s = new TestScenario();
        Assert.Equal(CapabilityError.Ok, DomainMeasurement.TryMeasure(s.Engine, s.Enclave, s.Memory, out RegionHash m1));
        s.Memory.Bytes[0x1800] ^= 1;
        Assert.Equal(CapabilityError.Ok, DomainMeasurement.TryMeasure(s.Engine, s.Enclave, s.Memory, out RegionHash m2));
        Assert.NotEqual(m1, m2);
        using var other = new DomainMeasurement();
        other.AddRegion(0x1000, 0x3000, MemoryOperations.Read | MemoryOperations.Hash, true, s.Memory.Bytes.AsSpan(0x1000, 0x2000));
        Assert.NotEqual(m2, other.Complete(DomainPermissions.None, 0, 0b10));
        var tooSmall = new ArrayMemory(0x2000);
        Assert.Equal(CapabilityError.InvalidRegion, DomainMeasurement.TryMeasure(s.Engine, s.Enclave, tooSmall, out _));
    }

    [Fact]
    public void Cms_signature_verifies_in_dotnet_and_with_openssl_cms()
    {
        if (!ExternalTools.Require("openssl")) return;
        var s = new TestScenario();
        Assert.Equal(CapabilityError.Ok, new ReportBuilder(s.Engine, s.Memory).TryBuildDomainReport(s.Enclave, Nonce, Monitor, out AttestationReport? report));
        using MonitorAttestationKey key = MonitorAttestationKey.Generate();
        byte[] signed = new ReportSigner(key).Sign(report!);

        var cms = new SignedCms();
        cms.Decode(signed);
        cms.CheckSignature(verifySignatureOnly: true);
        Assert.Equal(report!.Encode(), cms.ContentInfo.Content);

        string dir = Directory.CreateTempSubdirectory("tyche-cms-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "report.p7"), signed);
            File.WriteAllText(Path.Combine(dir, "monitor.pem"), key.Certificate.ExportCertificatePem());
            (int rc, string output) = ExternalTools.Run("openssl", "cms -verify -inform DER -in report.p7 -CAfile monitor.pem -out content.cbor", dir);
            Assert.True(rc == 0, output);
            Assert.Contains("Verification successful", output, StringComparison.Ordinal);
            Assert.Equal(report.Encode(), File.ReadAllBytes(Path.Combine(dir, "content.cbor")));

            byte[] tampered = (byte[])signed.Clone();
            int at = tampered.AsSpan().IndexOf(report.Encode().AsSpan(0, 16)) + 12;
            tampered[at] ^= 0x01;
            File.WriteAllBytes(Path.Combine(dir, "tampered.p7"), tampered);
            (int rc2, string output2) = ExternalTools.Run("openssl", "cms -verify -inform DER -in tampered.p7 -CAfile monitor.pem -out /dev/null", dir);
            Assert.NotEqual(0, rc2);
            Assert.Contains("failure", output2, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
