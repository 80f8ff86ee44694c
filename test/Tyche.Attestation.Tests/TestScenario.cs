// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Attestation.Reports;
using Tyche.Capabilities;

namespace Tyche.Attestation.Tests;

/// <summary>Byte-array physical memory (a test double of the backends' PhysicalMemory).</summary>
internal sealed class ArrayMemory : IPhysicalMemoryReader
{
    public ArrayMemory(int size)
    {
        Bytes = new byte[size];
        new Random(42).NextBytes(Bytes);
    }

    public byte[] Bytes { get; }

    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (address > (ulong)Bytes.Length || (ulong)destination.Length > (ulong)Bytes.Length - address) return false;
        Bytes.AsSpan((int)address, destination.Length).CopyTo(destination);
        return true;
    }
}

/// <summary>
/// A confidential-computing composition on a real engine: manager d0 (all cores, as every manager domain) and an
/// enclave d1 on core 1 (shared with d0, so not exclusive; core 0 is exclusive to d0) with a
/// granted (exclusive, hashed) code region, a shared buffer with d0 and a PCI device, sealed and measured.
/// </summary>
internal sealed class TestScenario
{
    public const ulong MemorySize = 0x10000;
    public static readonly AccessRights Code = new(0x1000, 0x3000, MemoryOperations.Read | MemoryOperations.Execute | MemoryOperations.Hash);
    public static readonly AccessRights Shared = new(0x8000, 0x9000, MemoryOperations.Read | MemoryOperations.Write);
    public static readonly DeviceId Nic = new(0, 0, 2, 0);

    public TestScenario()
    {
        Engine = new CapabilityEngine();
        Memory = new ArrayMemory((int)MemorySize);
        Manager = Engine.CreateManagerDomain(DomainPermissions.All);
        Engine.StartDomainOnCore(Manager, 0);
        LocalCapability root = Engine.CreateRootRegion(Manager, new AccessRights(0, MemorySize, MemoryOperations.All));
        LocalCapability device = Engine.CreateRootDevice(Manager, Nic);
        Management = Engine.CreateDomain(Manager);
        Engine.Grant(Manager, root, Code, Management);
        Engine.Share(Manager, root, Shared, Management);
        Engine.Send(Manager, device, Management);
        Engine.SetChildConfiguration(Manager, Management, ConfigurationBitmap.Permission, 0);
        Engine.SetChildConfiguration(Manager, Management, ConfigurationBitmap.Trap, 0);
        Engine.SetChildConfiguration(Manager, Management, ConfigurationBitmap.Core, 0b10);
        Engine.Seal(Manager, 1, Management);
        Enclave = Engine.GetDomainHandle(Manager, Management);
        Check(DomainMeasurement.TryMeasure(Engine, Enclave, Memory, out RegionHash m));
        Check(Engine.TrySetMeasurement(Enclave, m));
        Measurement = m.Bytes.ToArray();
        Check(Engine.TryGetDomainInfo(Manager, out DomainInfo mi));
        Check(Engine.TryGetDomainInfo(Enclave, out DomainInfo ei));
        ManagerId = mi.Id;
        EnclaveId = ei.Id;
    }

    public CapabilityEngine Engine { get; }

    public ArrayMemory Memory { get; }

    public DomainHandle Manager { get; }

    public DomainHandle Enclave { get; }

    public LocalCapability Management { get; }

    public ulong ManagerId { get; }

    public ulong EnclaveId { get; }

    public byte[] Measurement { get; }

    public static void Check(CapabilityError e)
    {
        if (e != CapabilityError.Ok) throw new InvalidOperationException("engine refused: " + e);
    }

    /// <summary>The verifier's offline recomputation of the enclave measurement from its manifest (code bytes).</summary>
    public byte[] ExpectedMeasurementFromManifest()
    {
        using var m = new DomainMeasurement();
        m.AddRegion(Code.Start, Code.End, Code.Operations, confidential: true, Memory.Bytes.AsSpan((int)Code.Start, (int)(Code.End - Code.Start)));
        return m.Complete(DomainPermissions.None, 0, 0b10).Bytes.ToArray();
    }

    public string PolicyJson(byte[] monitorDigest, int pcr, string enclaveExtra = "", string managerExtra = "") => $$"""
        {
          "version": 1,
          "monitorPcr": {{pcr}},
          "monitorImageDigests": ["{{Convert.ToHexString(monitorDigest)}}"],
          "domains": [
            {
              "id": {{EnclaveId}},
              "name": "enclave",
              "sealed": true,
              "measurement": "{{Convert.ToHexString(ExpectedMeasurementFromManifest())}}",
              "exclusiveMemory": true,
              "allowedSharing": [ { "start": "0x8000", "end": "0x9000", "partners": [{{ManagerId}}] } ],
              "devices": ["0000:00:02.0"],
              "onlyListedDevices": true{{enclaveExtra}}
            },
            {
              "id": {{ManagerId}},
              "name": "manager",
              "sealed": true,
              "exclusiveCores": [0]{{managerExtra}}
            }
          ]
        }
        """;
}
