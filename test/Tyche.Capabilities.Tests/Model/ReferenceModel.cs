// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;

namespace Tyche.Capabilities.Tests.Model;

/// <summary>
/// A deliberately naive reference model of the capability engine: objects, lists and loops, no pools, no journaling.
/// Every operation runs on a deep clone's worth of plain objects; a failure anywhere throws <see cref="ModelFailure"/>
/// and the caller (<see cref="ReferenceModel.Run"/>) restores the snapshot taken before the operation, so atomicity is
/// obvious. Trackers are multisets of signed contributions; effective permissions are recomputed from scratch
/// (notes §2.4): tracker(D) = Σ effective ranges of the regions D owns.
/// </summary>
/// <remarks>
/// The model knows nothing about slot numbering: new capabilities are placed at the index the engine returned (or, when
/// the API does not return one, at the index the harness discovers). Error precedence follows the reference order of
/// checks (notes §2.2, §3) with this library's additions (StaleDomain first, then the reference checks).
/// </remarks>
internal sealed class ReferenceModel
{
    public ReferenceModel(EngineCapacities capacities)
    {
        Capacities = capacities;
        Cores = new MDomain?[capacities.Cores];
        CoreInitialized = new bool[capacities.Cores];
    }

    public EngineCapacities Capacities { get; }

    /// <summary>The engine's result for the operation being modelled (set by the harness before <see cref="Run"/>).</summary>
    public CapabilityError EngineResult { get; set; }

    /// <summary>The model-internal key of a capability that only passes through a table within one operation.</summary>
    private const int TemporarySlot = -1_000_000;

    public List<MDomain> Domains { get; private set; } = new(); // every domain ever created, creation order

    public List<MRegion> Regions { get; private set; } = new(); // live regions, creation order

    public List<MUpdate> Updates { get; private set; } = new();

    public List<MDevice> Devices { get; private set; } = new();

    public MDomain?[] Cores { get; private set; }

    public bool[] CoreInitialized { get; private set; }

    public ulong IdCounter { get; private set; }

    /// <summary>The number of capabilities the last operation inserted without a known index (resolved by the harness).</summary>
    public List<(MDomain Domain, MCap Cap)> Unplaced { get; } = new();

    public IEnumerable<MDomain> Live => Domains.Where(d => d.Alive);

    // ------------------------------------------------------------------ running operations atomically

    /// <summary>Runs <paramref name="body"/>; on <see cref="ModelFailure"/> restores the state before it and returns the error.</summary>
    public CapabilityError Run(Action body)
    {
        Snapshot snapshot = TakeSnapshot();
        Unplaced.Clear();
        try
        {
            body();
            return CapabilityError.Ok;
        }
        catch (ModelFailure failure)
        {
            Restore(snapshot);
            Unplaced.Clear();
            return failure.Error;
        }
    }

    private static void Fail(CapabilityError error) => throw new ModelFailure(error);

    // ------------------------------------------------------------------ lookups

    public MDomain Domain(DomainHandle handle)
    {
        MDomain? d = Domains.FirstOrDefault(x => x.Alive && x.Handle == handle);
        if (d is null)
        {
            Fail(CapabilityError.StaleDomain);
        }

        return d!;
    }

    public MDomain? TryDomain(DomainHandle handle) => Domains.FirstOrDefault(x => x.Alive && x.Handle == handle);

    /// <summary>An allocated slot (reference <c>Domain::get</c>): free or out-of-range → CapabilityDoesNotExist. May be dead.</summary>
    public static MCap Get(MDomain d, int index)
    {
        if (!d.Table.TryGetValue(index, out MCap? cap))
        {
            Fail(CapabilityError.CapabilityDoesNotExist);
        }

        return cap!;
    }

    /// <summary>
    /// A usable capability of one of <paramref name="kinds"/>: free → CapabilityDoesNotExist; another kind (tombstones
    /// included) → WrongCapabilityType; the right kind but a dead target → InvalidCapa.
    /// </summary>
    public static MCap Lookup(MDomain d, int index, params CapabilityKind[] kinds)
    {
        MCap cap = Get(d, index);
        if (!kinds.Contains(cap.Kind))
        {
            Fail(CapabilityError.WrongCapabilityType);
        }

        if (cap.IsDead)
        {
            Fail(CapabilityError.InvalidCapa);
        }

        return cap;
    }

    private static void Require(MDomain d, DomainPermissions permission)
    {
        if (((DomainPermissions)d.Perm & permission) != permission)
        {
            Fail(CapabilityError.InsufficientPermissions);
        }
    }

    // ------------------------------------------------------------------ capability tables

    /// <summary>Makes room for <paramref name="count"/> inserts: when too few slots are free, every dead slot is reclaimed first.</summary>
    public void EnsureSlots(MDomain d, int count)
    {
        if (Capacities.CapabilitiesPerDomain - d.Table.Count >= count)
        {
            return;
        }

        foreach (int index in d.Table.Where(kv => kv.Value.IsDead).Select(kv => kv.Key).ToList())
        {
            d.Table.Remove(index);
        }

        if (Capacities.CapabilitiesPerDomain - d.Table.Count < count)
        {
            Fail(CapabilityError.OutOfMemory);
        }
    }

    /// <summary>
    /// Inserts at the index the engine reported. <c>-1</c>: the API does not report it, the harness discovers it afterwards;
    /// <c>-2</c>: a model-internal temporary slot (for capabilities that leave the table again within the same operation).
    /// </summary>
    private MCap Insert(MDomain d, MCap cap, int index)
    {
        EnsureSlots(d, 1);
        if (index == -2 || EngineResult != CapabilityError.Ok)
        {
            // -2: counts towards the table size, never addressable by a caller. When the engine failed, the indices it
            // reported mean nothing; the model still runs to compute its own result (compared by the harness).
            int key = TemporarySlot;
            while (d.Table.ContainsKey(key))
            {
                key--;
            }

            d.Table[key] = cap;
            return cap;
        }

        if (index < 0)
        {
            Unplaced.Add((d, cap));
            d.PendingInserts++;
            return cap;
        }

        if (index >= Capacities.CapabilitiesPerDomain || d.Table.ContainsKey(index))
        {
            throw new ModelMismatchException($"engine placed a new capability at slot {index} of domain {d.Id}, which is out of range or still allocated");
        }

        d.Table[index] = cap;
        return cap;
    }

    /// <summary>Called by the harness once it discovered where an unplaced capability landed.</summary>
    public void Place(MDomain d, MCap cap, int index)
    {
        if (index < 0 || index >= Capacities.CapabilitiesPerDomain || d.Table.ContainsKey(index))
        {
            throw new ModelMismatchException($"discovered slot {index} of domain {d.Id} is out of range or still allocated");
        }

        d.Table[index] = cap;
        d.PendingInserts--;
    }

    private static int IndexOf(MDomain d, MCap cap) => d.Table.First(kv => ReferenceEquals(kv.Value, cap)).Key;

    // ------------------------------------------------------------------ updates

    private void Push(MUpdate update)
    {
        if (Updates.Count >= Capacities.PendingUpdates)
        {
            Fail(CapabilityError.UpdateQueueFull);
        }

        Updates.Add(update);
    }

    private void PushPermissionUpdate(MDomain d)
    {
        if (Updates.Any(u => u.Kind == UpdateKind.PermissionUpdate && ReferenceEquals(u.Domain, d)))
        {
            return;
        }

        Push(new MUpdate { Kind = UpdateKind.PermissionUpdate, Domain = d, CoreMap = d.Running });
    }

    public MUpdate? Pop()
    {
        if (Updates.Count == 0)
        {
            return null;
        }

        MUpdate u = Updates[0];
        Updates.RemoveAt(0);
        return u;
    }

    // ------------------------------------------------------------------ trackers (signed contributions)

    private void Activate(MDomain d, ulong start, ulong end, MemoryOperations ops)
    {
        if (d.BeingRevoked || !d.Alive || start >= end)
        {
            return;
        }

        bool changed = TrackerMath.AddWouldCross(d.Tracker, start, end, ops);
        d.Tracker.Add(new Contribution(start, end, ops & MemoryOperations.Rights, +1));
        if (changed)
        {
            PushPermissionUpdate(d);
        }
    }

    private void Deactivate(MDomain d, ulong start, ulong end, MemoryOperations ops)
    {
        if (d.BeingRevoked || !d.Alive || start >= end)
        {
            return;
        }

        bool changed = TrackerMath.RemoveWouldCross(d.Tracker, start, end, ops);
        d.Tracker.Add(new Contribution(start, end, ops & MemoryOperations.Rights, -1));
        if (changed)
        {
            PushPermissionUpdate(d);
        }
    }

    // ------------------------------------------------------------------ domains

    public void CreateManagerDomain(DomainPermissions permissions, DomainHandle handle)
    {
        if (Live.Count() >= Capacities.Domains)
        {
            Fail(CapabilityError.OutOfMemory);
        }

        if (((ulong)permissions & ~(ulong)DomainPermissions.All) != 0)
        {
            Fail(CapabilityError.InvalidOperation);
        }

        var d = NewDomain(handle, manager: null, io: false);
        d.Perm = (ulong)permissions;
        d.Core = ulong.MaxValue;
        d.Trap = ulong.MaxValue;
        d.PermInit = d.CoreInit = d.TrapInit = true;
        d.Sealed = true;
        Push(new MUpdate { Kind = UpdateKind.CreateDomain, Domain = d });
    }

    private MDomain NewDomain(DomainHandle handle, MDomain? manager, bool io)
    {
        var d = new MDomain { Key = Domains.Count, Handle = handle, Id = ++IdCounter, Manager = manager, Io = io };
        Domains.Add(d);
        return d;
    }

    public void StartDomainOnCore(DomainHandle handle, int core)
    {
        if (core < 0 || core >= Capacities.Cores || CoreInitialized[core])
        {
            Fail(CapabilityError.InvalidCore);
        }

        MDomain d = Domain(handle);

        CoreInitialized[core] = true;
        Cores[core] = d;
        d.Running |= 1UL << core;
    }

    /// <summary>Creates a child; <paramref name="childHandle"/> is the handle the engine gave it (learned through TryGetDomainHandle).</summary>
    public void CreateDomain(DomainHandle manager, bool io, int managementIndex, Func<DomainHandle> childHandle)
    {
        MDomain m = Domain(manager);
        Require(m, DomainPermissions.Spawn);
        if (Live.Count() >= Capacities.Domains)
        {
            Fail(CapabilityError.OutOfMemory);
        }

        EnsureSlots(m, 1);
        MDomain child = NewDomain(childHandle(), m, io);
        Insert(m, new MCap { Kind = CapabilityKind.Management, Target = child }, managementIndex);
        Push(new MUpdate { Kind = UpdateKind.CreateDomain, Domain = child });
    }

    public DomainHandle GetDomainHandle(DomainHandle domain, int index)
    {
        MDomain d = Domain(domain);
        MCap cap = Get(d, index);
        if (cap.Kind is not (CapabilityKind.Management or CapabilityKind.Channel))
        {
            Fail(CapabilityError.WrongCapabilityType);
        }

        return cap.Target!.Handle; // may be stale (reference get_domain_capa); every use of it is refused with StaleDomain
    }

    private static bool ValidBitmap(ConfigurationBitmap bitmap) =>
        bitmap is ConfigurationBitmap.Permission or ConfigurationBitmap.Trap or ConfigurationBitmap.Core;

    private static ulong Mask(ConfigurationBitmap bitmap) =>
        bitmap == ConfigurationBitmap.Permission ? (ulong)DomainPermissions.All : ulong.MaxValue;

    public void SetChildConfiguration(DomainHandle manager, int index, ConfigurationBitmap bitmap, ulong value)
    {
        MDomain m = Domain(manager);
        if (!ValidBitmap(bitmap))
        {
            Fail(CapabilityError.InvalidValue);
        }

        if ((m.Get(bitmap) & value) != value)
        {
            Fail(CapabilityError.InsufficientPermissions);
        }

        MCap cap = Lookup(m, index, CapabilityKind.Management);
        MDomain child = cap.Target!;
        if (child.Sealed)
        {
            Fail(CapabilityError.AlreadySealed); // SPEC fix 5
        }

        if ((value & ~Mask(bitmap)) != 0)
        {
            Fail(CapabilityError.InvalidOperation);
        }

        child.Set(bitmap, value);
    }

    public void SetDomainConfiguration(DomainHandle domain, ConfigurationBitmap bitmap, ulong value)
    {
        MDomain d = Domain(domain);
        if (!ValidBitmap(bitmap))
        {
            Fail(CapabilityError.InvalidValue);
        }

        if (d.Sealed)
        {
            Fail(CapabilityError.AlreadySealed); // SPEC fix 5
        }

        if ((value & ~Mask(bitmap)) != 0)
        {
            Fail(CapabilityError.InvalidOperation);
        }

        d.Set(bitmap, value);
    }

    public ulong GetDomainConfiguration(DomainHandle domain, ConfigurationBitmap bitmap)
    {
        MDomain d = Domain(domain);
        if (!ValidBitmap(bitmap))
        {
            Fail(CapabilityError.InvalidValue);
        }

        return d.Get(bitmap);
    }

    public void Seal(DomainHandle manager, int core, int index, int switchIndex)
    {
        MDomain m = Domain(manager);
        if (core < 0 || core >= Capacities.Cores)
        {
            Fail(CapabilityError.InvalidCore);
        }

        MCap cap = Lookup(m, index, CapabilityKind.Management);
        MDomain child = cap.Target!;
        if (child.Sealed)
        {
            Fail(CapabilityError.AlreadySealed);
        }

        if (!(child.PermInit && child.TrapInit && child.CoreInit))
        {
            Fail(CapabilityError.InvalidOperation);
        }

        child.Sealed = true;
        Insert(m, new MCap { Kind = CapabilityKind.Switch, Target = child, Core = core }, switchIndex);
    }

    public void RevokeDomain(DomainHandle domain)
    {
        MDomain d = Domain(domain);
        RevokeDomainCascade(d);
    }

    /// <summary>Reference <c>domain::revoke</c> with this library's refusals (fix 2, fix 6).</summary>
    private void RevokeDomainCascade(MDomain d)
    {
        if (d.BeingRevoked || !d.Alive)
        {
            return;
        }

        if (d.Running != 0)
        {
            Fail(CapabilityError.DomainRunning); // fix 6
        }

        d.BeingRevoked = true;
        Push(new MUpdate { Kind = UpdateKind.RevokeDomain, Domain = d });
        foreach (int index in d.Table.Keys.ToList())
        {
            if (d.Table.TryGetValue(index, out MCap? cap) && !cap.IsDead)
            {
                RevokeCapabilityEffects(d, cap, cascade: true);
            }
        }

        d.Alive = false;
        d.Table.Clear();
        d.Tracker.Clear();
        d.BeingRevoked = false;
        foreach (MDevice device in Devices.Where(x => ReferenceEquals(x.Owner, d)).ToList())
        {
            Devices.Remove(device);
        }
    }

    // ------------------------------------------------------------------ regions

    public void CreateRootRegion(DomainHandle domain, AccessRights access, int index)
    {
        if (TryDomain(domain) is null)
        {
            Fail(CapabilityError.InvalidCapa); // reference create_root_region: InvalidCapa for a stale handle
        }

        MDomain d = Domain(domain);
        if (Regions.Count >= Capacities.Regions)
        {
            Fail(CapabilityError.OutOfMemory);
        }

        EnsureSlots(d, 1);
        if (access.Start > access.End)
        {
            Fail(CapabilityError.InvalidOperation);
        }

        var r = new MRegion
        {
            Owner = d, IsRoot = true, Start = access.Start, End = access.End, Ops = access.Operations, Confidential = true,
            Cleanup = (access.Operations & MemoryOperations.Cleanup) != 0 ? CleanupPolicy.Zero : CleanupPolicy.None,
        };
        Regions.Add(r);
        Insert(d, new MCap { Kind = CapabilityKind.Region, Region = r }, index);
        Activate(d, r.Start, r.End, r.Ops);
    }

    public void Alias(DomainHandle domain, int index, AccessRights access, CleanupPolicy cleanup, int aliasIndex) =>
        Derive(domain, index, access, cleanup, carve: false, aliasIndex);

    public void Carve(DomainHandle domain, int index, AccessRights access, CleanupPolicy cleanup, int carveIndex) =>
        Derive(domain, index, access, cleanup, carve: true, carveIndex);

    private MCap Derive(DomainHandle domain, int index, AccessRights access, CleanupPolicy cleanup, bool carve, int newIndex)
    {
        MDomain d = Domain(domain);
        Require(d, carve ? DomainPermissions.Carve : DomainPermissions.Alias); // fix 3: alias checks ALIAS
        MCap cap = Lookup(d, index, CapabilityKind.Region);
        MRegion p = cap.Region!;
        if (Regions.Count >= Capacities.Regions)
        {
            Fail(CapabilityError.OutOfMemory);
        }

        EnsureSlots(p.Owner, 1);
        bool valid = access.Start <= access.End && access.Start >= p.Start && access.End <= p.End
            && (access.Operations & ~(p.Ops | MemoryOperations.Attributes)) == 0;
        foreach (MRegion sibling in p.Children)
        {
            bool overlaps = access.Start < sibling.End && sibling.Start < access.End;
            if (overlaps && (carve || sibling.IsCarve))
            {
                valid = false;
            }
        }

        if (!valid)
        {
            Fail(CapabilityError.InvalidOperation);
        }

        var child = new MRegion
        {
            Owner = p.Owner, Parent = p, IsCarve = carve, Start = access.Start, End = access.End, Ops = access.Operations,
            Confidential = carve && p.Confidential,
            Cleanup = (access.Operations & MemoryOperations.Cleanup) == 0 ? CleanupPolicy.None : cleanup == CleanupPolicy.None ? CleanupPolicy.Zero : cleanup,
        };
        int position = 0;
        while (position < p.Children.Count && p.Children[position].Start <= child.Start)
        {
            position++;
        }

        p.Children.Insert(position, child);
        Regions.Add(child);
        MCap result = Insert(p.Owner, new MCap { Kind = CapabilityKind.Region, Region = child }, newIndex);
        if (!carve)
        {
            Activate(p.Owner, child.Start, child.End, child.Ops);
        }
        else if (child.Ops != p.Ops)
        {
            Deactivate(p.Owner, child.Start, child.End, p.Ops);
            Activate(p.Owner, child.Start, child.End, child.Ops);
        }

        return result;
    }

    public void CreateRevokeCapability(DomainHandle domain, int index, int revokeIndex)
    {
        MDomain d = Domain(domain);
        MCap cap = Lookup(d, index, CapabilityKind.Region, CapabilityKind.Device);
        if (cap.Kind == CapabilityKind.Region)
        {
            Insert(d, new MCap { Kind = CapabilityKind.RegionRevoke, Region = cap.Region }, revokeIndex);
        }
        else if (cap.Kind == CapabilityKind.Device)
        {
            Insert(d, new MCap { Kind = CapabilityKind.DeviceRevoke, Device = cap.Device }, revokeIndex);
        }
        else
        {
            Fail(CapabilityError.WrongCapabilityType);
        }
    }

    public void Duplicate(DomainHandle domain, int index, int copyIndex)
    {
        MDomain d = Domain(domain);
        Require(d, DomainPermissions.Duplicate);
        MCap cap = Get(d, index); // a dead revoke capability may be copied: the copy is dead too
        if (cap.Kind is not (CapabilityKind.Channel or CapabilityKind.RegionRevoke))
        {
            Fail(CapabilityError.CannotDuplicate);
        }

        Insert(d, cap.Copy(), copyIndex);
    }

    public void Send(DomainHandle domain, int index, int to, RegionHash? hash, int receivedIndex)
    {
        MDomain d = Domain(domain);
        Require(d, DomainPermissions.Send);
        MCap channel = Lookup(d, to, CapabilityKind.Management, CapabilityKind.Channel);
        MDomain t = channel.Target!;
        EnsureSlots(t, 1);
        MCap cap = Get(d, index); // a dead capability or tombstone moves as it is (reference send of None)
        d.Table.Remove(index);
        switch (cap.IsDead ? CapabilityKind.None : cap.Kind)
        {
            case CapabilityKind.Region:
                MRegion r = cap.Region!;
                MDomain old = r.Owner;
                r.Owner = t;
                foreach ((ulong s, ulong e) in Effective(r))
                {
                    Deactivate(old, s, e, r.Ops);
                    Activate(t, s, e, r.Ops);
                }

                r.Hash = hash;
                break;
            case CapabilityKind.Management:
                MDomain m = cap.Target!;
                if ((m.Core & ~t.Core) != 0)
                {
                    Fail(CapabilityError.InsufficientPermissions);
                }

                for (MDomain? a = t; a is not null; a = a.Manager)
                {
                    if (ReferenceEquals(a, m))
                    {
                        Fail(CapabilityError.ManagementCycle); // fix 4
                    }
                }

                m.Manager = t;
                break;
            case CapabilityKind.Device:
                MDevice device = Devices.Single(x => x.Id == cap.Device);
                device.Owner = t;
                Push(new MUpdate { Kind = UpdateKind.DeviceUpdate, Domain = t, Device = device.Id });
                break;
        }

        Insert(t, cap, receivedIndex);
    }

    /// <summary>Share (alias + revoke capability + send) or grant (carve + …), as one operation; the derived region only passes through the caller's table.</summary>
    public void Share(DomainHandle domain, int index, AccessRights access, int to, bool carve, int revokeIndex, int receivedIndex)
    {
        MDomain d = Domain(domain);
        MCap derived = Derive(domain, index, access, CleanupPolicy.Zero, carve, -2);
        EnsureSlots(d, 1); // the revoke capability, while the derived region still occupies its temporary slot
        Send(domain, IndexOf(d, derived), to, null, receivedIndex);
        Insert(d, new MCap { Kind = CapabilityKind.RegionRevoke, Region = derived.Region }, revokeIndex);
    }

    public void Revoke(DomainHandle domain, int index)
    {
        MDomain d = Domain(domain);
        MCap cap = Get(d, index);
        if (!cap.IsDead)
        {
            if (cap.Kind is CapabilityKind.Region or CapabilityKind.RegionRevoke && cap.Region!.IsRoot)
            {
                Fail(CapabilityError.InvalidOperation);
            }

            RevokeCapabilityEffects(d, cap, cascade: false);
        }

        if (!d.Alive || d.BeingRevoked)
        {
            Fail(CapabilityError.RevokesOwnVitalRegion);
        }

        cap.Kind = CapabilityKind.None; // tombstone: the slot stays allocated until enumeration or a full table
        cap.Region = null;
        cap.Target = null;
    }

    private void RevokeCapabilityEffects(MDomain holder, MCap cap, bool cascade)
    {
        switch (cap.Kind)
        {
            case CapabilityKind.Region:
                RevokeRegion(cap.Region!);
                break;
            case CapabilityKind.RegionRevoke:
                if (!cap.Region!.IsRoot)
                {
                    RevokeRegion(cap.Region);
                }

                break;
            case CapabilityKind.Management:
                RevokeDomainCascade(cap.Target!);
                break;
            case CapabilityKind.DeviceRevoke:
                MDevice? device = Devices.SingleOrDefault(x => x.Id == cap.Device);
                if (device is not null && !ReferenceEquals(device.Owner, holder))
                {
                    device.Owner = holder;
                    foreach (MDomain other in Live)
                    {
                        foreach (int i in other.Table.Where(kv => kv.Value.Kind == CapabilityKind.Device && kv.Value.Device == device.Id).Select(kv => kv.Key).ToList())
                        {
                            other.Table.Remove(i);
                        }
                    }

                    Push(new MUpdate { Kind = UpdateKind.DeviceUpdate, Domain = holder, Device = device.Id });
                }

                break;
        }
    }

    /// <summary>Reference <c>segment::revoke</c>: children first (lowest address first), then the node.</summary>
    private void RevokeRegion(MRegion r)
    {
        if (r.IsRoot)
        {
            Fail(CapabilityError.OwnsRootRegion); // fix 2: only reachable by revoking the domain that owns it
        }

        if (r.BeingRevoked)
        {
            // Re-entered through a VITAL descendant that revoked the owner of a capability to this region: the
            // revocation already in progress (further up the call stack) finishes it.
            return;
        }

        r.BeingRevoked = true;
        while (r.Alive && r.Children.Count > 0)
        {
            MRegion child = r.Children[0];
            if (child.BeingRevoked)
            {
                // A descendant's revocation re-entered here: this region is finished once that descendant is gone.
                r.DeferredRevoke = true;
                return;
            }

            RevokeRegion(child);
        }

        if (!r.Alive)
        {
            // A VITAL descendant revoked this region's owner, whose table still held this region: the domain
            // revocation revoked it (re-entrantly, in slot order, as any valid capability). Nothing is left to do.
            return;
        }

        r.Parent?.Children.Remove(r);
        Deactivate(r.Owner, r.Start, r.End, r.Ops);
        if (r.IsCarve && !r.Parent!.Owner.BeingRevoked)
        {
            Activate(r.Parent.Owner, r.Start, r.End, r.Parent.Ops);
        }

        r.Alive = false;
        Regions.Remove(r);
        if ((r.Ops & MemoryOperations.Vital) != 0)
        {
            RevokeDomainCascade(r.Owner);
        }

        if ((r.Ops & MemoryOperations.Cleanup) != 0 && ((r.Ops & MemoryOperations.Write) != 0 || (r.Cleanup & CleanupPolicy.Flush) != 0))
        {
            Push(new MUpdate { Kind = UpdateKind.Cleanup, Start = r.Start, End = r.End, Policy = r.Cleanup });
        }

        if (r.Parent is { Alive: true, DeferredRevoke: true } parent)
        {
            parent.DeferredRevoke = false;
            parent.BeingRevoked = false;
            RevokeRegion(parent);
        }
    }

    /// <summary>Effective ranges of a region: its range minus its carved children (aliases do not subtract).</summary>
    public static List<(ulong Start, ulong End)> Effective(MRegion r)
    {
        var pieces = new List<(ulong, ulong)>();
        ulong cursor = r.Start;
        foreach (MRegion c in r.Children.Where(c => c.IsCarve).OrderBy(c => c.Start))
        {
            if (c.Start > cursor)
            {
                pieces.Add((cursor, c.Start));
            }

            cursor = Math.Max(cursor, c.End);
        }

        if (cursor < r.End)
        {
            pieces.Add((cursor, r.End));
        }

        return pieces;
    }

    // ------------------------------------------------------------------ devices

    public void CreateRootDevice(DomainHandle domain, DeviceId id, int index)
    {
        MDomain d = Domain(domain);
        if (Devices.Any(x => x.Id == id))
        {
            Fail(CapabilityError.DeviceAlreadyExists);
        }

        if (Devices.Count >= Capacities.Devices)
        {
            Fail(CapabilityError.OutOfMemory);
        }

        Devices.Add(new MDevice { Id = id, Owner = d });
        Insert(d, new MCap { Kind = CapabilityKind.Device, Device = id }, index);
        Push(new MUpdate { Kind = UpdateKind.DeviceUpdate, Domain = d, Device = id });
    }

    // ------------------------------------------------------------------ cores and switching

    public void CreateSwitch(DomainHandle domain, int core, int index)
    {
        MDomain d = Domain(domain);
        if (core < 0 || core >= Capacities.Cores)
        {
            Fail(CapabilityError.InvalidCore);
        }

        Insert(d, new MCap { Kind = CapabilityKind.Switch, Target = d, Core = core }, index);
    }

    public void Switch(DomainHandle domain, int core, int index)
    {
        MDomain d = Domain(domain);
        if (core < 0 || core >= Capacities.Cores || !CoreInitialized[core])
        {
            Fail(CapabilityError.InvalidCore);
        }

        Get(d, index);
        DoSwitch(d, core, index);
    }

    /// <summary>
    /// Reference <c>switch</c>, except that the caller must be running on <paramref name="core"/> (the reference only logs
    /// when it is not; see SwitchTests).
    /// </summary>
    private void DoSwitch(MDomain d, int core, int index)
    {
        MCap cap = Lookup(d, index, CapabilityKind.Switch);
        MDomain n = cap.Target!;
        if ((n.Core & (1UL << core)) == 0 || (d.Running & (1UL << core)) == 0)
        {
            Fail(CapabilityError.InvalidCore); // the caller must be the domain running on the core (SwitchTests)
        }

        MCap back = new() { Kind = CapabilityKind.Switch, Target = d, Core = core };
        Insert(n, back, -1);
        d.Table.Remove(index);

        d.Running &= ~(1UL << core);
        n.Running |= 1UL << core;
        Cores[core] = n;
        Push(new MUpdate { Kind = UpdateKind.Switch, Domain = n, Core = core, ReturnCap = back, ReturnDomain = n });
    }

    public void HandleTrap(DomainHandle domain, int core, ulong trap, ulong info)
    {
        MDomain d = Domain(domain);
        if (core < 0 || core >= Capacities.Cores)
        {
            Fail(CapabilityError.InvalidCore);
        }

        if (d.Sealed && (d.Trap & trap) != 0)
        {
            Fail(CapabilityError.ValidTrapCausedExit);
        }

        for (MDomain? h = d; h is not null; h = h.Manager)
        {
            if ((h.Trap & trap) != 0)
            {
                Push(new MUpdate { Kind = UpdateKind.Trap, Domain = h, Trap = trap, Info = info, Core = core });
                return;
            }
        }

        Fail(CapabilityError.CouldNotHandleTrap);
    }

    public void HandleViolation(DomainHandle domain, int core)
    {
        MDomain d = Domain(domain);
        if (d.Manager is null)
        {
            Fail(CapabilityError.CouldNotHandleTrap);
        }

        if (core < 0 || core >= Capacities.Cores || !CoreInitialized[core])
        {
            Fail(CapabilityError.InvalidCore);
        }

        foreach ((int index, MCap cap) in d.Table)
        {
            if (!cap.IsDead && cap.Kind == CapabilityKind.Switch && ReferenceEquals(cap.Target, d.Manager) && cap.Core == core)
            {
                DoSwitch(d, core, index);
                return;
            }
        }

        Fail(CapabilityError.InvalidCore);
    }

    public void ConditionalPermissionUpdate(DomainHandle domain) => PushPermissionUpdate(Domain(domain));

    // ------------------------------------------------------------------ views recomputed from scratch

    /// <summary>tracker(D) recomputed from region ownership (notes §2.4), canonical form.</summary>
    public List<TrackerSegment> TrackerFromRegions(MDomain d)
    {
        var contributions = new List<Contribution>();
        foreach (MRegion r in Regions.Where(r => ReferenceEquals(r.Owner, d)))
        {
            foreach ((ulong s, ulong e) in Effective(r))
            {
                contributions.Add(new Contribution(s, e, r.Ops & MemoryOperations.Rights, +1));
            }
        }

        return TrackerMath.Canonical(contributions);
    }

    public List<TrackerSegment> Tracker(MDomain d) => TrackerMath.Canonical(d.Tracker);

    public static List<MemoryPermission> Permissions(List<TrackerSegment> tracker) =>
        tracker.Select(s => new MemoryPermission(s.Start, s.End, s.Operations)).ToList();

    /// <summary>The system-wide memory map: maximal ranges where the set of (domain, rights) is constant; uncovered ranges omitted.</summary>
    public List<(ulong Start, ulong End, List<(MDomain Domain, MemoryOperations Ops)> Accessors)> MemoryMap()
    {
        var trackers = Live.Select(d => (Domain: d, Segments: Tracker(d))).ToList();
        var bounds = new SortedSet<ulong>();
        foreach (var t in trackers)
        {
            foreach (TrackerSegment s in t.Segments)
            {
                bounds.Add(s.Start);
                bounds.Add(s.End);
            }
        }

        var result = new List<(ulong, ulong, List<(MDomain, MemoryOperations)>)>();
        ulong[] b = bounds.ToArray();
        for (int i = 0; i + 1 < b.Length; i++)
        {
            var accessors = new List<(MDomain, MemoryOperations)>();
            foreach (var t in trackers)
            {
                foreach (TrackerSegment s in t.Segments)
                {
                    if (s.Start <= b[i] && b[i + 1] <= s.End)
                    {
                        accessors.Add((t.Domain, s.Operations));
                    }
                }
            }

            if (accessors.Count == 0)
            {
                continue;
            }

            if (result.Count > 0 && result[^1].Item2 == b[i] && result[^1].Item3.SequenceEqual(accessors))
            {
                result[^1] = (result[^1].Item1, b[i + 1], result[^1].Item3);
            }
            else
            {
                result.Add((b[i], b[i + 1], accessors));
            }
        }

        return result;
    }

    public CapabilityInfo Info(MCap cap) => cap.Kind switch
    {
        CapabilityKind.Region => new CapabilityInfo(CapabilityKind.Region, cap.Region!.Start, cap.Region.End, cap.Region.Ops,
            unique: cap.Region.Confidential, hasChildren: cap.Region.Children.Count > 0),
        CapabilityKind.RegionRevoke => new CapabilityInfo(CapabilityKind.RegionRevoke, cap.Region!.Start, cap.Region.End, cap.Region.Ops,
            unique: cap.Region.Confidential),
        CapabilityKind.Management => new CapabilityInfo(CapabilityKind.Management, domainId: cap.Target!.Id, isSealed: cap.Target.Sealed),
        CapabilityKind.Channel => new CapabilityInfo(CapabilityKind.Channel, domainId: cap.Target!.Id),
        CapabilityKind.Switch => new CapabilityInfo(CapabilityKind.Switch, domainId: cap.Target!.Id),
        CapabilityKind.Device => new CapabilityInfo(CapabilityKind.Device, device: cap.Device),
        CapabilityKind.DeviceRevoke => new CapabilityInfo(CapabilityKind.DeviceRevoke, device: cap.Device),
        _ => new CapabilityInfo(CapabilityKind.None),
    };

    /// <summary>The model's own I1 self-check: incremental trackers equal the from-scratch recomputation.</summary>
    public void SelfCheck()
    {
        foreach (MDomain d in Live)
        {
            List<TrackerSegment> a = Tracker(d), b = TrackerFromRegions(d);
            if (!a.SequenceEqual(b))
            {
                throw new InvalidOperationException(
                    $"model bug: tracker of domain {d.Id} is {string.Join(" -> ", a)} but its regions give {string.Join(" -> ", b)}");
            }

            // Keep contribution lists short.
            d.Tracker = a.Select(s => new Contribution(s.Start, s.End, s.ReferenceCount, s.ReadCount, s.WriteCount, s.ExecuteCount, s.SuperCount)).ToList();
        }
    }

    // ------------------------------------------------------------------ snapshot / restore (deep copy)

    private sealed record Snapshot(List<MDomain> Domains, List<MRegion> Regions, List<MUpdate> Updates, List<MDevice> Devices,
        MDomain?[] Cores, bool[] CoreInitialized, ulong IdCounter);

    private Snapshot TakeSnapshot()
    {
        var dmap = new Dictionary<MDomain, MDomain>(ReferenceEqualityComparer.Instance);
        var rmap = new Dictionary<MRegion, MRegion>(ReferenceEqualityComparer.Instance);
        var cmap = new Dictionary<MCap, MCap>(ReferenceEqualityComparer.Instance);
        MDomain D(MDomain x) => dmap[x];
        foreach (MDomain d in Domains)
        {
            dmap[d] = d.ShallowClone();
        }

        foreach (MDomain d in Domains)
        {
            foreach (MRegion r in AllRegionsOwnedOrReferenced(d))
            {
                if (!rmap.ContainsKey(r))
                {
                    rmap[r] = r.ShallowClone();
                }
            }
        }

        foreach (MRegion r in Regions)
        {
            if (!rmap.ContainsKey(r))
            {
                rmap[r] = r.ShallowClone();
            }
        }

        MRegion? R(MRegion? x)
        {
            if (x is null)
            {
                return null;
            }

            if (!rmap.TryGetValue(x, out MRegion? y))
            {
                y = x.ShallowClone();
                rmap[x] = y;
            }

            return y;
        }

        MCap C(MCap x)
        {
            if (!cmap.TryGetValue(x, out MCap? y))
            {
                y = new MCap { Kind = x.Kind, Region = R(x.Region), Target = x.Target is null ? null : D(x.Target), Core = x.Core, Device = x.Device };
                cmap[x] = y;
            }

            return y;
        }

        foreach (MDomain d in Domains)
        {
            MDomain c = dmap[d];
            c.Manager = d.Manager is null ? null : D(d.Manager);
            c.Table = new SortedDictionary<int, MCap>(d.Table.ToDictionary(kv => kv.Key, kv => C(kv.Value)));
            c.Tracker = new List<Contribution>(d.Tracker);
        }

        var fixedUp = new HashSet<MRegion>(ReferenceEqualityComparer.Instance);
        while (rmap.Count > fixedUp.Count)
        {
            foreach ((MRegion r, MRegion c) in rmap.ToList())
            {
                if (fixedUp.Add(r))
                {
                    c.Owner = D(r.Owner);
                    c.Parent = R(r.Parent);
                    c.Children = r.Children.Select(x => R(x)!).ToList();
                }
            }
        }

        return new Snapshot(
            Domains.Select(D).ToList(),
            Regions.Select(x => R(x)!).ToList(),
            Updates.Select(u => u with { Domain = u.Domain is null ? null : D(u.Domain), ReturnCap = u.ReturnCap is null ? null : C(u.ReturnCap), ReturnDomain = u.ReturnDomain is null ? null : D(u.ReturnDomain) }).ToList(),
            Devices.Select(x => new MDevice { Id = x.Id, Owner = D(x.Owner) }).ToList(),
            Cores.Select(x => x is null ? null : D(x)).ToArray(),
            (bool[])CoreInitialized.Clone(),
            IdCounter);
    }

    private static IEnumerable<MRegion> AllRegionsOwnedOrReferenced(MDomain d) =>
        d.Table.Values.Where(c => c.Region is not null).Select(c => c.Region!);

    private void Restore(Snapshot s)
    {
        Domains = s.Domains;
        Regions = s.Regions;
        Updates = s.Updates;
        Devices = s.Devices;
        Cores = s.Cores;
        CoreInitialized = s.CoreInitialized;
        IdCounter = s.IdCounter;
    }

    /// <summary>Replaces this model's state with a deep copy (used by the harness to keep model identities stable after restore).</summary>
    public int DomainIndex(MDomain d) => Domains.IndexOf(d);
}

internal sealed class ModelFailure(CapabilityError error) : Exception(error.ToString())
{
    public CapabilityError Error { get; } = error;
}

/// <summary>The engine and the model disagree (or the engine broke a structural rule the model checks).</summary>
internal sealed class ModelMismatchException(string message) : Exception(message);

internal sealed class MDomain
{
    public int Key;
    public DomainHandle Handle;
    public ulong Id;
    public MDomain? Manager;
    public bool Sealed, Io, Alive = true, BeingRevoked;
    public ulong Perm, Trap, Core, Running;
    public bool PermInit, TrapInit, CoreInit;
    public int PendingInserts;
    public SortedDictionary<int, MCap> Table = new();
    public List<Contribution> Tracker = new();

    public ulong Get(ConfigurationBitmap b) => b switch
    {
        ConfigurationBitmap.Permission => Perm,
        ConfigurationBitmap.Trap => Trap,
        _ => Core,
    };

    public void Set(ConfigurationBitmap b, ulong v)
    {
        switch (b)
        {
            case ConfigurationBitmap.Permission: Perm = v; PermInit = true; break;
            case ConfigurationBitmap.Trap: Trap = v; TrapInit = true; break;
            default: Core = v; CoreInit = true; break;
        }
    }

    public MDomain ShallowClone() => (MDomain)MemberwiseClone();

    public override string ToString() => $"d{Id}";
}

internal sealed class MCap
{
    public CapabilityKind Kind;
    public MRegion? Region;
    public MDomain? Target;
    public int Core;
    public DeviceId Device;

    public bool IsDead => Kind switch
    {
        CapabilityKind.None => true,
        CapabilityKind.Region or CapabilityKind.RegionRevoke => !Region!.Alive,
        CapabilityKind.Management or CapabilityKind.Channel or CapabilityKind.Switch => !Target!.Alive,
        _ => false,
    };

    public MCap Copy() => new() { Kind = Kind, Region = Region, Target = Target, Core = Core, Device = Device };

    public override string ToString() => $"{Kind}";
}

internal sealed class MRegion
{
    public MDomain Owner = null!;
    public MRegion? Parent;
    public bool IsRoot, IsCarve, Confidential, Alive = true;

    /// <summary>A revocation of this region is in progress further up the call stack (re-entry through VITAL).</summary>
    public bool BeingRevoked;

    /// <summary>Re-entered while a descendant was being revoked: revoked again once that descendant is gone.</summary>
    public bool DeferredRevoke;
    public ulong Start, End;
    public MemoryOperations Ops;
    public CleanupPolicy Cleanup;
    public RegionHash? Hash;
    public List<MRegion> Children = new();

    public MRegion ShallowClone() => (MRegion)MemberwiseClone();
}

internal sealed class MDevice
{
    public DeviceId Id;
    public MDomain Owner = null!;
}

internal sealed record MUpdate
{
    public UpdateKind Kind { get; init; }
    public MDomain? Domain { get; init; }
    public ulong CoreMap { get; init; }
    public int Core { get; init; }
    public MCap? ReturnCap { get; init; }
    public MDomain? ReturnDomain { get; init; }
    public int ReturnIndex { get; set; }
    public ulong Trap { get; init; }
    public ulong Info { get; init; }
    public ulong Start { get; init; }
    public ulong End { get; init; }
    public CleanupPolicy Policy { get; init; }
    public DeviceId Device { get; init; }
}

/// <summary>A signed tracker contribution: counters added over <c>[Start, End)</c>.</summary>
internal readonly record struct Contribution(ulong Start, ulong End, int Ref, int R, int W, int X, int S)
{
    public Contribution(ulong start, ulong end, MemoryOperations rights, int sign)
        : this(start, end, sign, Has(rights, MemoryOperations.Read) * sign, Has(rights, MemoryOperations.Write) * sign,
            Has(rights, MemoryOperations.Execute) * sign, Has(rights, MemoryOperations.Super) * sign)
    {
    }

    private static int Has(MemoryOperations ops, MemoryOperations bit) => (ops & bit) != 0 ? 1 : 0;
}

/// <summary>Pointwise arithmetic on contribution lists: split at every boundary, sum, merge identical neighbours.</summary>
internal static class TrackerMath
{
    public static List<TrackerSegment> Elementary(IReadOnlyList<Contribution> contributions, ulong? extraStart = null, ulong? extraEnd = null)
    {
        var bounds = new SortedSet<ulong>();
        foreach (Contribution c in contributions)
        {
            bounds.Add(c.Start);
            bounds.Add(c.End);
        }

        if (extraStart is ulong s0)
        {
            bounds.Add(s0);
        }

        if (extraEnd is ulong e0)
        {
            bounds.Add(e0);
        }

        ulong[] b = bounds.ToArray();
        var result = new List<TrackerSegment>();
        for (int i = 0; i + 1 < b.Length; i++)
        {
            int rf = 0, r = 0, w = 0, x = 0, sp = 0;
            foreach (Contribution c in contributions)
            {
                if (c.Start <= b[i] && b[i + 1] <= c.End)
                {
                    rf += c.Ref;
                    r += c.R;
                    w += c.W;
                    x += c.X;
                    sp += c.S;
                }
            }

            if (rf < 0 || r < 0 || w < 0 || x < 0 || sp < 0)
            {
                throw new InvalidOperationException($"model bug: negative tracker counter on [0x{b[i]:x}, 0x{b[i + 1]:x})");
            }

            result.Add(new TrackerSegment(b[i], b[i + 1], rf, r, w, x, sp));
        }

        return result;
    }

    public static List<TrackerSegment> Canonical(IReadOnlyList<Contribution> contributions)
    {
        var result = new List<TrackerSegment>();
        foreach (TrackerSegment s in Elementary(contributions))
        {
            if (s.ReferenceCount == 0)
            {
                if (s.ReadCount + s.WriteCount + s.ExecuteCount + s.SuperCount != 0)
                {
                    throw new InvalidOperationException("model bug: rights without references");
                }

                continue;
            }

            if (result.Count > 0 && result[^1].End == s.Start && SameCounts(result[^1], s))
            {
                result[^1] = result[^1] with { End = s.End };
            }
            else
            {
                result.Add(s);
            }
        }

        return result;
    }

    public static List<TrackerSegment> Normalize(IEnumerable<TrackerSegment> segments)
    {
        var result = new List<TrackerSegment>();
        foreach (TrackerSegment s in segments)
        {
            if (result.Count > 0 && result[^1].End == s.Start && SameCounts(result[^1], s))
            {
                result[^1] = result[^1] with { End = s.End };
            }
            else
            {
                result.Add(s);
            }
        }

        return result;
    }

    private static bool SameCounts(TrackerSegment a, TrackerSegment b) =>
        a.ReferenceCount == b.ReferenceCount && a.ReadCount == b.ReadCount && a.WriteCount == b.WriteCount
        && a.ExecuteCount == b.ExecuteCount && a.SuperCount == b.SuperCount;

    /// <summary>Adding [s, e) with ops crosses 0→1 somewhere (notes §2.5, PermissionChange).</summary>
    public static bool AddWouldCross(IReadOnlyList<Contribution> tracker, ulong start, ulong end, MemoryOperations ops)
    {
        foreach (TrackerSegment seg in Elementary(tracker, start, end))
        {
            if (seg.Start < start || seg.End > end)
            {
                continue;
            }

            if (seg.ReferenceCount == 0 || Crosses(seg, ops, 0))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Removing [s, e) with ops crosses 1→0 somewhere.</summary>
    public static bool RemoveWouldCross(IReadOnlyList<Contribution> tracker, ulong start, ulong end, MemoryOperations ops)
    {
        foreach (TrackerSegment seg in Elementary(tracker, start, end))
        {
            if (seg.Start < start || seg.End > end)
            {
                continue;
            }

            if (seg.ReferenceCount == 0)
            {
                throw new InvalidOperationException($"model bug: removing [0x{start:x}, 0x{end:x}) finds a hole at 0x{seg.Start:x}");
            }

            if (seg.ReferenceCount == 1 || Crosses(seg, ops, 1))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Crosses(TrackerSegment seg, MemoryOperations ops, int value) =>
        ((ops & MemoryOperations.Read) != 0 && seg.ReadCount == value)
        || ((ops & MemoryOperations.Write) != 0 && seg.WriteCount == value)
        || ((ops & MemoryOperations.Execute) != 0 && seg.ExecuteCount == value)
        || ((ops & MemoryOperations.Super) != 0 && seg.SuperCount == value);
}
