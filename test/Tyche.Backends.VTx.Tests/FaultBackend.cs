// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Backends.Abstractions;
using Tyche.Capabilities;

namespace Tyche.Backends.VTx.Tests;

/// <summary>A backend registered after the VT-x backend that fails in apply on demand, forcing the facade to roll the VT-x backend back.</summary>
internal sealed class FaultBackend : IIsolationBackend
{
    public bool FailNextApply { get; set; }

    public int Faults { get; private set; }

    public string Name => "fault";

    public HardwareLimits Limits { get; } = new() { PhysicalAddressBits = 52, GuestAddressBits = 48, Granularity = 4096 };

    public bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal)
    {
        refusal = BackendRefusal.None;
        return true;
    }

    public bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal)
    {
        if (FailNextApply && updates.Length > 0)
        {
            FailNextApply = false;
            Faults++;
            refusal = new BackendRefusal(Name, BackendRefusalReason.OutOfTableFrames, DomainHandle.Invalid);
            return false;
        }

        refusal = BackendRefusal.None;
        return true;
    }

    public void Commit()
    {
    }

    public void Rollback()
    {
    }
}
