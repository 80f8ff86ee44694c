// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

// Temporary bodies so the public surface compiles; replaced by the implementation files.
public sealed partial class CapabilityEngine
{
    private CapabilityError CreateManagerDomainCore(DomainPermissions permissions, out DomainHandle domain) { domain = default; return CapabilityError.InvalidOperation; }
    private CapabilityError StartDomainOnCoreCore(DomainHandle domain, int core) => CapabilityError.InvalidOperation;
    private CapabilityError CreateDomainCore(DomainHandle manager, bool io, out LocalCapability management) { management = default; return CapabilityError.InvalidOperation; }
    private CapabilityError GetDomainHandleCore(DomainHandle domain, LocalCapability capability, out DomainHandle target) { target = default; return CapabilityError.InvalidOperation; }
    private CapabilityError RevokeDomainCore(DomainHandle domain) => CapabilityError.InvalidOperation;
    private CapabilityError SetChildConfigurationCore(DomainHandle manager, LocalCapability management, ConfigurationBitmap bitmap, ulong value) => CapabilityError.InvalidOperation;
    private CapabilityError SetDomainConfigurationCore(DomainHandle domain, ConfigurationBitmap bitmap, ulong value) => CapabilityError.InvalidOperation;
    private CapabilityError GetDomainConfigurationCore(DomainHandle domain, ConfigurationBitmap bitmap, out ulong value) { value = 0; return CapabilityError.InvalidOperation; }
    private CapabilityError SealCore(DomainHandle manager, int core, LocalCapability management, out LocalCapability s) { s = default; return CapabilityError.InvalidOperation; }
    private CapabilityError GetDomainInfoCore(DomainHandle domain, out DomainInfo info) { info = default; return CapabilityError.InvalidOperation; }
    private bool IsLiveHandle(DomainHandle domain) => false;
    private int GetDomainsCore(Span<DomainHandle> destination) => 0;
    private CapabilityError SetMeasurementCore(DomainHandle domain, in RegionHash measurement) => CapabilityError.InvalidOperation;
    private CapabilityError GetMeasurementCore(DomainHandle domain, out RegionHash measurement, out bool isSet) { measurement = default; isSet = false; return CapabilityError.InvalidOperation; }
    private CapabilityError CreateRootRegionCore(DomainHandle domain, in AccessRights access, out LocalCapability region) { region = default; return CapabilityError.InvalidOperation; }
    private CapabilityError DeriveCore(DomainHandle domain, LocalCapability region, in AccessRights access, CleanupPolicy cleanup, bool carve, out LocalCapability result) { result = default; return CapabilityError.InvalidOperation; }
    private CapabilityError CreateRevokeCore(DomainHandle domain, LocalCapability capability, out LocalCapability revoke) { revoke = default; return CapabilityError.InvalidOperation; }
    private CapabilityError DuplicateCore(DomainHandle domain, LocalCapability capability, out LocalCapability copy) { copy = default; return CapabilityError.InvalidOperation; }
    private CapabilityError SendCore(DomainHandle domain, LocalCapability capability, LocalCapability to, bool withHash, in RegionHash hash, out LocalCapability received) { received = default; return CapabilityError.InvalidOperation; }
    private CapabilityError ShareCore(DomainHandle domain, LocalCapability region, in AccessRights access, LocalCapability to, bool carve, out LocalCapability revoke, out LocalCapability received) { revoke = default; received = default; return CapabilityError.InvalidOperation; }
    private CapabilityError RevokeCore(DomainHandle domain, LocalCapability capability) => CapabilityError.InvalidOperation;
    private CapabilityError GetEffectiveRegionsCore(DomainHandle domain, LocalCapability region, Span<AccessRights> destination, out int written) { written = 0; return CapabilityError.InvalidOperation; }
    private CapabilityError GetRegionInfoCore(DomainHandle domain, LocalCapability region, out AccessRights access, out CleanupPolicy cleanup, out RegionHash hash, out bool hasHash) { access = default; cleanup = default; hash = default; hasHash = false; return CapabilityError.InvalidOperation; }
    private CapabilityError CreateRootDeviceCore(DomainHandle domain, DeviceId device, out LocalCapability capability) { capability = default; return CapabilityError.InvalidOperation; }
    private CapabilityError GetDeviceOwnerCore(DeviceId device, out DomainHandle owner) { owner = default; return CapabilityError.InvalidOperation; }
    private int GetDevicesCore(DomainHandle domain, Span<DeviceId> destination) => 0;
    private CapabilityError CreateSwitchCore(DomainHandle domain, int core, out LocalCapability capability) { capability = default; return CapabilityError.InvalidOperation; }
    private CapabilityError SwitchCore(DomainHandle domain, int core, LocalCapability capability) => CapabilityError.InvalidOperation;
    private CapabilityError HandleTrapCore(DomainHandle domain, int core, ulong trap, ulong info) => CapabilityError.InvalidOperation;
    private CapabilityError HandleViolationCore(DomainHandle domain, int core) => CapabilityError.InvalidOperation;
    private CapabilityError ConditionalPermissionUpdateCore(DomainHandle domain) => CapabilityError.InvalidOperation;
    private CapabilityError GetRunningDomainCore(int core, out DomainHandle domain) { domain = default; return CapabilityError.InvalidOperation; }
    private int GetDomainsAllowedOnCoreCore(int core, Span<DomainHandle> destination) => 0;
    private bool EnumerateCore(DomainHandle domain, ref int token, out LocalCapability index, out CapabilityInfo info) { index = default; info = default; return false; }
    private CapabilityError GetCapabilityInfoCore(DomainHandle domain, LocalCapability capability, out CapabilityInfo info) { info = default; return CapabilityError.InvalidOperation; }
    private int TrackerCount(DomainHandle domain) => 0;
    private CapabilityError GetPermissionsCore(DomainHandle domain, Span<MemoryPermission> destination, out int written) { written = 0; return CapabilityError.InvalidOperation; }
    private CapabilityError GetTrackerSegmentsCore(DomainHandle domain, Span<TrackerSegment> destination, out int written) { written = 0; return CapabilityError.InvalidOperation; }
    private int MemoryMapCore(Span<MemoryMapSegment> destination, bool write, out int unused) { unused = 0; return 0; }
    private CapabilityError GetAccessorsCore(ulong address, Span<MemoryAccessor> destination, out int written) { written = 0; return CapabilityError.InvalidOperation; }
    private int SerializeCore(Span<byte> destination, bool write) => 0;
    private int CheckInvariantsCore(Span<InvariantViolation> destination) => 0;
    private bool PopUpdateCore(out Update update) { update = default; return false; }
}
