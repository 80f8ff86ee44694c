// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>The PERMISSION configuration bitmap: which monitor operations a domain may invoke (reference <c>permission</c>).</summary>
[Flags]
#pragma warning disable CA1711 // "Permissions" is the domain term.
public enum DomainPermissions : ulong
#pragma warning restore CA1711
{
    /// <summary>No permission.</summary>
    None = 0,

    /// <summary>May create child domains.</summary>
    Spawn = 1 << 0,

    /// <summary>May send capabilities.</summary>
    Send = 1 << 1,

    /// <summary>May duplicate channel and region-revoke capabilities.</summary>
    Duplicate = 1 << 2,

    /// <summary>May alias (share) regions. The reference checks <see cref="Carve"/> instead; this engine checks this bit (SPEC fix 3).</summary>
    Alias = 1 << 3,

    /// <summary>May carve (exclusively sub-divide) regions.</summary>
    Carve = 1 << 4,

    /// <summary>All permissions (<c>0x1F</c>).</summary>
    All = Spawn | Send | Duplicate | Alias | Carve,
}

/// <summary>The three configuration bitmaps of a domain (reference <c>Bitmaps</c>).</summary>
public enum ConfigurationBitmap
{
    /// <summary>Index 0: <see cref="DomainPermissions"/>; valid bits <c>0x1F</c>.</summary>
    Permission = 0,

    /// <summary>Index 1: bit <c>i</c> set means the domain handles trap <c>i</c> itself; all 64 bits valid.</summary>
    Trap = 1,

    /// <summary>Index 2: the cores the domain may be scheduled on; all 64 bits valid.</summary>
    Core = 2,
}
