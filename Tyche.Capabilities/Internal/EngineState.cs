// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>The engine's pools and their journal. Every write to a pool slot goes through a <c>W…</c> accessor that journals the slot first.</summary>
public sealed partial class CapabilityEngine
{
    private const int NoSlot = -1;

    // Region node kinds.
    private const byte RegionRoot = 0;
    private const byte RegionAlias = 1;
    private const byte RegionCarve = 2;

    // Configuration-initialised flags, one per ConfigurationBitmap.
    private const byte ConfigPermissionSet = 1 << 0;
    private const byte ConfigTrapSet = 1 << 1;
    private const byte ConfigCoreSet = 1 << 2;
    private const byte ConfigAllSet = ConfigPermissionSet | ConfigTrapSet | ConfigCoreSet;

    private readonly int _caps;
    private readonly DomainSlot[] _domains;
    private readonly CapSlot[] _capSlots;
    private readonly RegionNode[] _regions;
    private readonly TrackerNode[] _tracker;
    private readonly Update[] _updates;
    private readonly CoreSlot[] _cores;
    private readonly DeviceSlot[] _devices;

    // Hashes live outside the nodes so journaling a node copies less: index r for region r, Regions + d for domain d's measurement.
    private readonly RegionHash[] _hashes;
    private readonly Journal _journal;
    private Header _h;
    private bool _explicitTx;
    private bool _implicitTx;

    /// <summary>Scalars saved whole at transaction start.</summary>
    private struct Header
    {
        public ulong IdCounter;
        public int DomainFresh, DomainFree, DomainCount;
        public int RegionFresh, RegionFree, RegionCount;
        public int TrackerFresh, TrackerFree, TrackerCount;
        public int DeviceCount;
        public int QueueHead, QueueCount;
        public ulong DeviceSerial;
        public ulong RegionSequence;
        public uint TrackerSerial;
    }

    private struct DomainSlot
    {
        public bool Live;
        public uint Generation;
        public int NextFree;
        public ulong Id;
        public int Manager;
        public uint ManagerGeneration;
        public ulong Permissions;
        public ulong Traps;
        public ulong CoreMap;
        public byte ConfigSet;
        public bool Sealed;
        public bool IsIo;
        public bool BeingRevoked;
        public ulong RunningCores;
        public int CapFresh;
        public int CapFree;
        public int TrackerHead;
        public int TrackerRoot;
        public int TrackerNodes;
        public int PendingPermissionUpdates;
        public bool HasMeasurement;
    }

    private struct CapSlot
    {
        public bool Allocated;
        public CapabilityKind Kind;
        public int NextFree;
        public int Target;
        public uint TargetGeneration;
        public int Core;
        public ulong Serial;
    }

    private struct RegionNode
    {
        public bool Live;
        public uint Generation;
        public int NextFree;
        public byte Kind;
        public int Owner;
        public int Parent;
        public ulong Start;
        public ulong End;
        public MemoryOperations Ops;
        public bool Confidential;
        public CleanupPolicy Policy;
        public bool HasHash;
        public bool BeingRevoked;
        public bool DeferredRevoke;
        public int FirstChild;
        public int LastChild;
        public int NextSibling;
        public int PrevSibling;
        public int ChildCount;
        public int CarveCount;
        public int ChildRoot;
        public int CLeft;
        public int CRight;
        public int CUp;
        public ulong SubMaxEnd;
        public ulong SubCarveMaxEnd;
        public ulong Sequence;
    }

    private struct TrackerNode
    {
        public ulong Start;
        public ulong End;
        public int Ref, Read, Write, Exec, Super;
        public int Next;
        public int Prev;
        public int Left;
        public int Right;
        public int Up;

        /// <summary>Set each time the node is linked into a tracker (see <see cref="TrackerPriority"/>).</summary>
        public uint Salt;
    }

    private struct CoreSlot
    {
        public bool Initialized;
        public int Domain;
        public uint Generation;
    }

    private struct DeviceSlot
    {
        public DeviceId Id;
        public int Owner;
        public int RootOwner;
        public uint RootOwnerGeneration;
        public int PreviousOwner;
        public uint PreviousOwnerGeneration;
        public int CapDomain;
        public int CapIndex;
    }

    // ------------------------------------------------------------------ transactions

    private void BeginOp()
    {
        if (!_explicitTx)
        {
            _journal.Begin();
            _implicitTx = true;
        }
    }

    private CapabilityError EndOp(CapabilityError error)
    {
        if (error == CapabilityError.Ok)
        {
            if (!_explicitTx)
            {
                _implicitTx = false;
                _journal.Commit();
            }

            return error;
        }

        _journal.Rollback();
        if (_explicitTx)
        {
            _journal.Begin();
        }
        else
        {
            _implicitTx = false;
        }

        return error;
    }

    private CapabilityError EndOp<T>(CapabilityError error, ref T output)
        where T : struct
    {
        if (error != CapabilityError.Ok)
        {
            output = default;
        }

        return EndOp(error);
    }

    private CapabilityError EndOp<T>(CapabilityError error, ref T first, ref T second)
        where T : struct
    {
        if (error != CapabilityError.Ok)
        {
            first = default;
            second = default;
        }

        return EndOp(error);
    }

    private bool Journaling => _explicitTx || _implicitTx;

    private ref DomainSlot WDomain(int i)
    {
        if (Journaling)
        {
            _journal.SaveDomain(i);
        }

        return ref _domains[i];
    }

    private ref CapSlot WCap(int i)
    {
        if (Journaling)
        {
            _journal.SaveCap(i);
        }

        return ref _capSlots[i];
    }

    private ref RegionNode WRegion(int i)
    {
        if (Journaling)
        {
            _journal.SaveRegion(i);
        }

        return ref _regions[i];
    }

    private ref TrackerNode WTracker(int i)
    {
        if (Journaling)
        {
            _journal.SaveTracker(i);
        }

        return ref _tracker[i];
    }

    private ref Update WUpdate(int i)
    {
        if (Journaling)
        {
            _journal.SaveUpdate(i);
        }

        return ref _updates[i];
    }

    private ref CoreSlot WCore(int i)
    {
        if (Journaling)
        {
            _journal.SaveCore(i);
        }

        return ref _cores[i];
    }

    private ref RegionHash WHash(int i)
    {
        if (Journaling)
        {
            _journal.SaveHash(i);
        }

        return ref _hashes[i];
    }

    private ref DeviceSlot WDevice(int i)
    {
        if (Journaling)
        {
            _journal.SaveDevice(i);
        }

        return ref _devices[i];
    }

    /// <summary>
    /// The undo journal: per pool, a saved copy of each slot touched in the current transaction (saved once, tracked by a
    /// stamp compared with the transaction number) plus the list of saved indices; and the header scalars. All storage is
    /// allocated at construction and covers every slot, so journaling never allocates and never runs out.
    /// </summary>
    private sealed class Journal
    {
        private readonly CapabilityEngine _e;
        private readonly Pool<DomainSlot> _domains;
        private readonly Pool<CapSlot> _caps;
        private readonly Pool<RegionNode> _regions;
        private readonly Pool<TrackerNode> _tracker;
        private readonly Pool<Update> _updates;
        private readonly Pool<CoreSlot> _cores;
        private readonly Pool<DeviceSlot> _devices;
        private readonly Pool<RegionHash> _hashes;
        private Header _header;
        private int _tx;

        public Journal(CapabilityEngine engine)
        {
            _e = engine;
            _domains = new Pool<DomainSlot>(engine._domains.Length);
            _caps = new Pool<CapSlot>(engine._capSlots.Length);
            _regions = new Pool<RegionNode>(engine._regions.Length);
            _tracker = new Pool<TrackerNode>(engine._tracker.Length);
            _updates = new Pool<Update>(engine._updates.Length);
            _cores = new Pool<CoreSlot>(engine._cores.Length);
            _devices = new Pool<DeviceSlot>(engine._devices.Length);
            _hashes = new Pool<RegionHash>(engine._hashes.Length);
        }

        public int SavedSlots =>
            _domains.Count + _caps.Count + _regions.Count + _tracker.Count + _updates.Count + _cores.Count + _devices.Count + _hashes.Count;

        public void Begin()
        {
            _tx++;
            if (_tx == int.MaxValue)
            {
                _tx = 1;
                _domains.ResetStamps();
                _caps.ResetStamps();
                _regions.ResetStamps();
                _tracker.ResetStamps();
                _updates.ResetStamps();
                _cores.ResetStamps();
                _devices.ResetStamps();
                _hashes.ResetStamps();
            }

            _header = _e._h;
            Clear();
        }

        public void Commit() => Clear();

        public void Rollback()
        {
            _domains.Restore(_e._domains);
            _caps.Restore(_e._capSlots);
            _regions.Restore(_e._regions);
            _tracker.Restore(_e._tracker);
            _updates.Restore(_e._updates);
            _cores.Restore(_e._cores);
            _devices.Restore(_e._devices);
            _hashes.Restore(_e._hashes);
            _e._h = _header;
            Clear();
        }

        public void SaveDomain(int i) => _domains.Save(_e._domains, i, _tx);

        public void SaveCap(int i) => _caps.Save(_e._capSlots, i, _tx);

        public void SaveRegion(int i) => _regions.Save(_e._regions, i, _tx);

        public void SaveTracker(int i) => _tracker.Save(_e._tracker, i, _tx);

        public void SaveUpdate(int i) => _updates.Save(_e._updates, i, _tx);

        public void SaveCore(int i) => _cores.Save(_e._cores, i, _tx);

        public void SaveDevice(int i) => _devices.Save(_e._devices, i, _tx);

        public void SaveHash(int i) => _hashes.Save(_e._hashes, i, _tx);

        private void Clear()
        {
            _domains.Count = 0;
            _caps.Count = 0;
            _regions.Count = 0;
            _tracker.Count = 0;
            _updates.Count = 0;
            _cores.Count = 0;
            _devices.Count = 0;
            _hashes.Count = 0;
        }

        /// <summary>Saved copies of one pool's slots.</summary>
        private sealed class Pool<T>
            where T : struct
        {
            private readonly int[] _stamp;
            private readonly int[] _index;
            private readonly T[] _saved;

            public Pool(int length)
            {
                _stamp = new int[length];
                _index = new int[length];
                _saved = new T[length];
            }

            public int Count;

            public void Save(T[] live, int i, int tx)
            {
                if (_stamp[i] != tx)
                {
                    _stamp[i] = tx;
                    _index[Count] = i;
                    _saved[Count] = live[i];
                    Count++;
                }
            }

            public void Restore(T[] live)
            {
                for (int k = Count - 1; k >= 0; k--)
                {
                    live[_index[k]] = _saved[k];
                }
            }

            public void ResetStamps() => Array.Clear(_stamp);
        }
    }
}
