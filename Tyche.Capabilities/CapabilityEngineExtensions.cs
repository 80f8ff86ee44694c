// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Capabilities;

/// <summary>
/// Throwing convenience methods over the <c>Try…</c> operations of <see cref="CapabilityEngine"/>, for samples, tools and
/// tests. Each calls the <c>Try…</c> method and throws <see cref="TycheException"/> (carrying the error) when it fails;
/// the engine is unchanged in that case.
/// </summary>
public static class CapabilityEngineExtensions
{
    /// <summary>Creates a root manager domain.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="permissions">Its PERMISSION bitmap.</param>
    /// <returns>The new domain.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static DomainHandle CreateManagerDomain(this CapabilityEngine engine, DomainPermissions permissions)
    {
        CapabilityError e = engine.TryCreateManagerDomain(permissions, out DomainHandle d);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "create_manager_domain", DomainHandle.Invalid);
        }

        return d;
    }

    /// <summary>Starts a domain on a core (boot).</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The domain.</param>
    /// <param name="core">The core.</param>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static void StartDomainOnCore(this CapabilityEngine engine, DomainHandle domain, int core)
    {
        CapabilityError e = engine.TryStartDomainOnCore(domain, core);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "start_domain_on_core", domain, core);
        }
    }

    /// <summary>Creates a child domain.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="manager">The manager.</param>
    /// <returns>The Management capability in the manager's table.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability CreateDomain(this CapabilityEngine engine, DomainHandle manager)
    {
        CapabilityError e = engine.TryCreateDomain(manager, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "create_domain", manager);
        }

        return c;
    }

    /// <summary>The domain behind a Management or Channel capability.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The holder.</param>
    /// <param name="capability">The capability.</param>
    /// <returns>The target domain.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static DomainHandle GetDomainHandle(this CapabilityEngine engine, DomainHandle domain, LocalCapability capability)
    {
        CapabilityError e = engine.TryGetDomainHandle(domain, capability, out DomainHandle d);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "get_domain_capa", domain, capability.Index);
        }

        return d;
    }

    /// <summary>Creates a root region.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The owner.</param>
    /// <param name="access">Range and rights.</param>
    /// <returns>The Region capability.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability CreateRootRegion(this CapabilityEngine engine, DomainHandle domain, AccessRights access)
    {
        CapabilityError e = engine.TryCreateRootRegion(domain, access, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "create_root_region", domain, -1, access.Start, access.End);
        }

        return c;
    }

    /// <summary>Aliases a sub-range.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The parent region.</param>
    /// <param name="access">Sub-range and rights.</param>
    /// <returns>The new Region capability.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability Alias(this CapabilityEngine engine, DomainHandle domain, LocalCapability region, AccessRights access)
    {
        CapabilityError e = engine.TryAlias(domain, region, access, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "alias", domain, region.Index, access.Start, access.End);
        }

        return c;
    }

    /// <summary>Carves a sub-range.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The parent region.</param>
    /// <param name="access">Sub-range and rights.</param>
    /// <returns>The new Region capability.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability Carve(this CapabilityEngine engine, DomainHandle domain, LocalCapability region, AccessRights access)
    {
        CapabilityError e = engine.TryCarve(domain, region, access, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "carve", domain, region.Index, access.Start, access.End);
        }

        return c;
    }

    /// <summary>Creates a revoke capability for a region or device.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">The Region or Device capability.</param>
    /// <returns>The revoke capability.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability CreateRevokeCapability(this CapabilityEngine engine, DomainHandle domain, LocalCapability capability)
    {
        CapabilityError e = engine.TryCreateRevokeCapability(domain, capability, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "create_revoke_capa", domain, capability.Index);
        }

        return c;
    }

    /// <summary>Sends a capability.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The sender.</param>
    /// <param name="capability">The capability to move.</param>
    /// <param name="to">The Management or Channel capability to the receiver.</param>
    /// <returns>The index in the receiver's table.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability Send(this CapabilityEngine engine, DomainHandle domain, LocalCapability capability, LocalCapability to)
    {
        CapabilityError e = engine.TrySend(domain, capability, to, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "send", domain, capability.Index);
        }

        return c;
    }

    /// <summary>Aliases, keeps a revoke capability and sends, atomically.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The region to share from.</param>
    /// <param name="access">Sub-range and rights.</param>
    /// <param name="to">The Management or Channel capability to the receiver.</param>
    /// <returns>The revoke capability kept by the caller and the index in the receiver's table.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static (LocalCapability Revoke, LocalCapability Received) Share(this CapabilityEngine engine, DomainHandle domain,
        LocalCapability region, AccessRights access, LocalCapability to)
    {
        CapabilityError e = engine.TryShare(domain, region, access, to, out LocalCapability revoke, out LocalCapability received);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "share", domain, region.Index, access.Start, access.End);
        }

        return (revoke, received);
    }

    /// <summary>Carves, keeps a revoke capability and sends, atomically.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The caller.</param>
    /// <param name="region">The region to grant from.</param>
    /// <param name="access">Sub-range and rights.</param>
    /// <param name="to">The Management or Channel capability to the receiver.</param>
    /// <returns>The revoke capability kept by the caller and the index in the receiver's table.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static (LocalCapability Revoke, LocalCapability Received) Grant(this CapabilityEngine engine, DomainHandle domain,
        LocalCapability region, AccessRights access, LocalCapability to)
    {
        CapabilityError e = engine.TryGrant(domain, region, access, to, out LocalCapability revoke, out LocalCapability received);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "grant", domain, region.Index, access.Start, access.End);
        }

        return (revoke, received);
    }

    /// <summary>Revokes a capability.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The caller.</param>
    /// <param name="capability">The capability.</param>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static void Revoke(this CapabilityEngine engine, DomainHandle domain, LocalCapability capability)
    {
        CapabilityError e = engine.TryRevoke(domain, capability);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "revoke", domain, capability.Index);
        }
    }

    /// <summary>Revokes a domain.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The domain.</param>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static void RevokeDomain(this CapabilityEngine engine, DomainHandle domain)
    {
        CapabilityError e = engine.TryRevokeDomain(domain);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "revoke_domain", domain);
        }
    }

    /// <summary>Sets a child's configuration bitmap.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="manager">The manager.</param>
    /// <param name="management">The Management capability.</param>
    /// <param name="bitmap">Which bitmap.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static void SetChildConfiguration(this CapabilityEngine engine, DomainHandle manager, LocalCapability management,
        ConfigurationBitmap bitmap, ulong value)
    {
        CapabilityError e = engine.TrySetChildConfiguration(manager, management, bitmap, value);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "set_child_config", manager, management.Index, value, value);
        }
    }

    /// <summary>Seals a child.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="manager">The manager.</param>
    /// <param name="core">The core of the returned Switch capability.</param>
    /// <param name="management">The Management capability.</param>
    /// <returns>The Switch capability to the child.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability Seal(this CapabilityEngine engine, DomainHandle manager, int core, LocalCapability management)
    {
        CapabilityError e = engine.TrySeal(manager, core, management, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "seal", manager, management.Index);
        }

        return c;
    }

    /// <summary>Switches a core to another domain.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The current domain.</param>
    /// <param name="core">The core.</param>
    /// <param name="capability">The Switch capability.</param>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static void Switch(this CapabilityEngine engine, DomainHandle domain, int core, LocalCapability capability)
    {
        CapabilityError e = engine.TrySwitch(domain, core, capability);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "switch", domain, capability.Index);
        }
    }

    /// <summary>Creates a root device capability.</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="domain">The first owner.</param>
    /// <param name="device">The PCI function.</param>
    /// <returns>The Device capability.</returns>
    /// <exception cref="TycheException">The engine refused.</exception>
    public static LocalCapability CreateRootDevice(this CapabilityEngine engine, DomainHandle domain, DeviceId device)
    {
        CapabilityError e = engine.TryCreateRootDevice(domain, device, out LocalCapability c);
        if (e != CapabilityError.Ok)
        {
            ThrowHelper.ThrowEngineError(e, "create_root_device", domain, device.GetHashCode());
        }

        return c;
    }
}
