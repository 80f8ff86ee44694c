// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.Pmp;

/// <summary>
/// A range of the monitor's own memory, compiled into PMP entries of the highest priority (lowest indices) that no
/// domain image ever rewrites.
/// </summary>
/// <remarks>
/// Without Smepmp, a locked entry binds M-mode as well and grants S/U mode exactly the same rights (Privileged ISA
/// §3.7.1.2): a locked entry with no permissions denies the range to every mode, a locked read-only entry lets every
/// mode read it. An unlocked entry (<paramref name="Locked"/> = false) with no permissions denies S/U while leaving
/// M-mode unrestricted, which is how a monitor keeps its writable data; it is still never part of a domain switch.
/// </remarks>
/// <param name="Start">First byte, a multiple of the grain.</param>
/// <param name="End">One past the last byte, a multiple of the grain.</param>
/// <param name="Permissions">R/W/X granted to every mode the entry binds (W without R is refused).</param>
/// <param name="Locked">Whether to set L (default true).</param>
public readonly record struct PmpMonitorRegion(ulong Start, ulong End, PmpConfigBits Permissions, bool Locked = true);
