// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests.Facade;

/// <summary>The facade composes engine and backends atomically: any refusal leaves engine, queue, tables and frames exactly as before.</summary>
public sealed class MonitorTests
{
    private const ulong MiB2 = 0x20_0000;

    /// <summary>A backend double that refuses at admission or fails in apply on demand, and counts calls.</summary>
    private sealed class ScriptedBackend : IIsolationBackend
    {
        public bool RefuseAdmission { get; set; }

        public bool FailApply { get; set; }

        public bool ThrowInApply { get; set; }

        public int Applied { get; private set; }

        public int Committed { get; private set; }

        public int RolledBack { get; private set; }

        public string Name => "scripted";

        public HardwareLimits Limits { get; } = new() { PhysicalAddressBits = 56, GuestAddressBits = 56, Granularity = 4, MaxEntriesPerDomain = 16 };

        public bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal)
        {
            refusal = RefuseAdmission ? new BackendRefusal(Name, BackendRefusalReason.TooManyEntries, updates.Length > 0 ? updates[0].Domain : DomainHandle.Invalid, 0, 17, 16) : BackendRefusal.None;
            return !RefuseAdmission;
        }

        public bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal)
        {
            if (ThrowInApply)
            {
                throw new InvalidOperationException("backend bug");
            }

            if (FailApply)
            {
                actions.Add(MonitorAction.FenceOn(DomainHandle.Invalid, FenceKind.SfenceVma, 1));
                refusal = new BackendRefusal(Name, BackendRefusalReason.OutOfTableFrames, DomainHandle.Invalid, 0, 1, 0);
                return false;
            }

            Applied++;
            refusal = BackendRefusal.None;
            return true;
        }

        public void Commit() => Committed++;

        public void Rollback() => RolledBack++;
    }

    private static (Rig Rig, ScriptedBackend Scripted, DomainHandle D0, LocalCapability R0, LocalCapability M1) Setup()
    {
        var scripted = new ScriptedBackend();
        var rig = new Rig(extraBackends: [scripted]);
        DomainHandle d0 = rig.Boot(64 * MiB2, out LocalCapability r0);
        var (_, m1) = rig.Child(d0);
        return (rig, scripted, d0, r0, m1);
    }

    private static void AssertUnchanged(Rig rig, string engine, byte[] tables, int free)
    {
        Assert.Equal(engine, rig.EngineSnapshot());
        Assert.True(tables.AsSpan().SequenceEqual(rig.Memory.TableAreaBytes), "table bytes changed");
        Assert.Equal(free, rig.Memory.FreeFrameCount);
        Assert.Equal(0, rig.Engine.PendingUpdateCount);
        Assert.Equal(0, rig.Monitor.Actions.Count);
    }

    [Fact]
    public void AdmissionRefusalRollsBackTheEngineBeforeAnyBackendApplies()
    {
        var (rig, scripted, d0, r0, m1) = Setup();
        string engine = rig.EngineSnapshot();
        byte[] tables = rig.Memory.TableAreaBytes.ToArray();
        int free = rig.Memory.FreeFrameCount;
        scripted.RefuseAdmission = true;
        Assert.Equal(CapabilityError.RejectedByBackend, rig.Monitor.TryShare(d0, r0, new AccessRights(0, MiB2, MemoryOperations.Read), m1, out _, out _));
        Assert.Equal(new BackendRefusal("scripted", BackendRefusalReason.TooManyEntries, rig.Monitor.LastRefusal.Domain, 0, 17, 16), rig.Monitor.LastRefusal);
        Assert.StartsWith("scripted: TooManyEntries", rig.Monitor.LastRefusal.ToString(), StringComparison.Ordinal);
        AssertUnchanged(rig, engine, tables, free);
        Assert.Equal(0, scripted.RolledBack);

        scripted.RefuseAdmission = false;
        Rig.Ok(rig.Monitor.TryShare(d0, r0, new AccessRights(0, MiB2, MemoryOperations.Read), m1, out _, out _));
        Assert.Equal(BackendRefusal.None, rig.Monitor.LastRefusal);
    }

    [Fact]
    public void ApplyFailureOfALaterBackendRollsBackTheEarlierBackendsTables()
    {
        var (rig, scripted, d0, r0, m1) = Setup();
        string engine = rig.EngineSnapshot();
        byte[] tables = rig.Memory.TableAreaBytes.ToArray();
        int free = rig.Memory.FreeFrameCount;
        scripted.FailApply = true;
        Assert.Equal(CapabilityError.RejectedByBackend, rig.Monitor.TryGrant(d0, r0, new AccessRights(0x1000, 3 * MiB2, MemoryOperations.Read), m1, out _, out _));
        Assert.Equal(BackendRefusalReason.OutOfTableFrames, rig.Monitor.LastRefusal.Reason);
        AssertUnchanged(rig, engine, tables, free);

        // The same operation then succeeds and the tables say what the engine says.
        scripted.FailApply = false;
        Rig.Ok(rig.Monitor.TryGrant(d0, r0, new AccessRights(0x1000, 3 * MiB2, MemoryOperations.Read), m1, out _, out _));
        Assert.True(scripted.Committed > 0);
        rig.CheckDomain(d0, new Random(7), 64, 80 * MiB2, "after grant");
    }

    [Fact]
    public void ABackendThatThrowsLeavesNothingHalfDone()
    {
        var (rig, scripted, d0, r0, m1) = Setup();
        string engine = rig.EngineSnapshot();
        byte[] tables = rig.Memory.TableAreaBytes.ToArray();
        int free = rig.Memory.FreeFrameCount;
        scripted.ThrowInApply = true;
        Assert.Throws<InvalidOperationException>(() => rig.Monitor.TryShare(d0, r0, new AccessRights(0x1000, 0x3000, MemoryOperations.Read), m1, out _, out _));
        Assert.False(rig.Engine.InTransaction);
        AssertUnchanged(rig, engine, tables, free);
        scripted.ThrowInApply = false;
        Rig.Ok(rig.Monitor.TryShare(d0, r0, new AccessRights(0x1000, 0x3000, MemoryOperations.Read), m1, out _, out _));
    }

    [Fact]
    public void EngineErrorsPassThroughAndReachNoBackend()
    {
        var (rig, scripted, d0, _, m1) = Setup();
        int applied = scripted.Applied;
        string engine = rig.EngineSnapshot();
        Assert.Equal(CapabilityError.CapabilityDoesNotExist, rig.Monitor.TryShare(d0, new LocalCapability(99), new AccessRights(0, 0x1000, MemoryOperations.Read), m1, out _, out _));
        Assert.Equal(applied, scripted.Applied);
        Assert.Equal(engine, rig.EngineSnapshot());
        Assert.False(rig.Engine.InTransaction);
    }

    [Fact]
    public void BeginAndCompleteMustPair()
    {
        var (rig, _, _, _, _) = Setup();
        Assert.Throws<InvalidOperationException>(() => rig.Monitor.Complete(CapabilityError.Ok));
        rig.Monitor.Begin();
        Assert.Throws<InvalidOperationException>(rig.Monitor.Begin);
        Rig.Ok(rig.Monitor.Complete(CapabilityError.Ok));
    }

    [Fact]
    public void CleanupRunsAfterTheTableChangesAndReallyZeroes()
    {
        var rig = new Rig(memoryBase: 0, dataFrames: 32, tableFrames: 64);
        rig.Memory.Bytes[..(32 * 4096)].Fill(0xAA);
        DomainHandle d0 = rig.Boot(32 * 4096, out LocalCapability r0);
        rig.Monitor.Begin();
        const MemoryOperations RWC = MemoryOperations.Read | MemoryOperations.Write | MemoryOperations.Cleanup;
        Rig.Ok(rig.Monitor.Complete(rig.Engine.TryCarve(d0, r0, new AccessRights(0x4000, 0x6000, RWC), CleanupPolicy.ZeroAndFlush, out LocalCapability carve)));
        Rig.Ok(rig.Monitor.TryRevoke(d0, carve));
        MonitorAction[] actions = rig.Monitor.Actions.AsSpan().ToArray();
        Assert.Equal(MonitorAction.Cleanup(0x4000, 0x6000, CleanupPolicy.ZeroAndFlush), actions[^1]);
        Assert.All(rig.Memory.Bytes[0x4000..0x6000].ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0xAA, rig.Memory.Bytes[0x3FFF]);
        Assert.Equal(0xAA, rig.Memory.Bytes[0x6000]);
        Assert.Equal(0x2000UL, rig.Memory.ZeroedBytes);
        Assert.Equal(1, rig.Memory.FlushCount);
    }

    [Fact]
    public void PhysicalMemoryNeverCleansItsTableAreaAndRejectsForeignFrees()
    {
        var memory = new PhysicalMemory(0, 8, 4, 4);
        Assert.True(memory.TryAllocate(out ulong frame));
        Assert.Equal(0x4000UL, frame);
        memory.WriteEntry(frame, 0x1234);
        memory.Bytes[..0x4000].Fill(0x55);
        memory.Clean(0, 0x8000, CleanupPolicy.Zero);
        Assert.Equal(0x1234UL, memory.ReadEntry(frame));
        Assert.Equal(0x4000UL, memory.ZeroedBytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Free(0x1000));
        memory.Free(frame);
        Assert.Equal(0UL, memory.ReadEntry(frame));
        Assert.Equal(4, memory.FreeFrameCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Free(frame));
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.ReadEntry(0x9000));
    }
}
