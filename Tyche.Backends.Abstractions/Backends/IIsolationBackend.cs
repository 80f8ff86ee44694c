// SPDX-License-Identifier: Apache-2.0
using System;
using Tyche.Capabilities;

namespace Tyche.Backends.Abstractions;

/// <summary>
/// A hardware isolation backend: it keeps hardware configuration (page tables, IOMMU tables, PMP images) equal to the engine's state by
/// consuming the engine's <see cref="Update"/>s, and reports the <see cref="MonitorAction"/>s a monitor must perform.
/// </summary>
/// <remarks>
/// <para>Protocol, driven by <see cref="Monitor"/> for every engine operation (all inside one engine transaction):</para>
/// <list type="number">
/// <item><see cref="TryAdmit"/> with the operation's updates and the engine's <em>new</em> state: the backend refuses what its hardware cannot
/// express (too many entries, addresses too wide or misaligned, …). It must not change anything.</item>
/// <item><see cref="TryApply"/> with the same updates, in FIFO order: the backend writes its tables and appends actions. On failure (e.g. the
/// frame allocator ran dry) it must leave its tables, its state and the allocator exactly as before the call, and must not keep actions it
/// appended (the facade truncates the list anyway).</item>
/// <item>Exactly one of <see cref="Commit"/> (the operation stands; frames released by the update may now go back to the allocator) or
/// <see cref="Rollback"/> (another backend or the engine refused: undo the last successful <see cref="TryApply"/> byte for byte).</item>
/// </list>
/// <para>Backends are single-threaded; the monitor serialises operations.</para>
/// </remarks>
public interface IIsolationBackend
{
    /// <summary>A short name for refusals and logs (e.g. <c>"vtx"</c>, <c>"pmp"</c>).</summary>
    string Name { get; }

    /// <summary>The hardware limits this backend enforces.</summary>
    HardwareLimits Limits { get; }

    /// <summary>Checks that the engine's new state for the domains named by <paramref name="updates"/> can be expressed by the hardware.</summary>
    /// <param name="engine">The engine's state after the operation.</param>
    /// <param name="updates">The updates the operation queued, in FIFO order.</param>
    /// <param name="refusal">Why the state was refused; <see cref="BackendRefusal.None"/> on success.</param>
    /// <returns><see langword="true"/> when the backend can apply the updates.</returns>
    bool TryAdmit(IEngineView engine, ReadOnlySpan<Update> updates, out BackendRefusal refusal);

    /// <summary>Applies <paramref name="updates"/> (FIFO order) to the backend's tables and appends the resulting actions.</summary>
    /// <param name="engine">The engine's state after the operation.</param>
    /// <param name="updates">The updates.</param>
    /// <param name="actions">Receives the actions.</param>
    /// <param name="refusal">Why applying failed; tables and state are unchanged then.</param>
    /// <returns><see langword="true"/> on success.</returns>
    bool TryApply(IEngineView engine, ReadOnlySpan<Update> updates, MonitorActionList actions, out BackendRefusal refusal);

    /// <summary>Makes the last successful <see cref="TryApply"/> permanent.</summary>
    void Commit();

    /// <summary>Undoes the last successful <see cref="TryApply"/> (tables byte-identical, frames back in the allocator). A no-op when nothing is pending.</summary>
    void Rollback();
}
