// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Capabilities;

/// <summary>
/// Memory rights and region attributes (reference <c>MemOps</c>). Only <see cref="Read"/>, <see cref="Write"/>,
/// <see cref="Execute"/> and <see cref="Super"/> are access rights tracked per physical range; <see cref="Hash"/>,
/// <see cref="Cleanup"/> and <see cref="Vital"/> are attributes of a region capability.
/// </summary>
[Flags]
public enum MemoryOperations : byte
{
    /// <summary>No right.</summary>
    None = 0,

    /// <summary>Read access.</summary>
    Read = 1 << 0,

    /// <summary>Write access.</summary>
    Write = 1 << 1,

    /// <summary>Execute access.</summary>
    Execute = 1 << 2,

    /// <summary>Supervisor-mode access.</summary>
    Super = 1 << 3,

    /// <summary>Attribute: the region's range, rights and contents are part of the owner's measurement.</summary>
    Hash = 1 << 4,

    /// <summary>Attribute: the region's memory is cleaned (see <see cref="CleanupPolicy"/>) when it is revoked.</summary>
    Cleanup = 1 << 5,

    /// <summary>Attribute: losing this region revokes its owner domain.</summary>
    Vital = 1 << 6,

    /// <summary>The four access rights <c>RWXS</c>.</summary>
    Rights = Read | Write | Execute | Super,

    /// <summary>The three attribute flags <c>HCV</c>, which a child region may add.</summary>
    Attributes = Hash | Cleanup | Vital,

    /// <summary>The reference's <c>MEMOPS_ALL</c>: <c>RWXS</c> plus <see cref="Hash"/> (<c>0x1F</c>).</summary>
    All = Rights | Hash,
}

/// <summary>How a region's memory is cleaned when the region is revoked. Carried by <see cref="UpdateKind.Cleanup"/> updates.</summary>
[Flags]
public enum CleanupPolicy : byte
{
    /// <summary>No cleanup.</summary>
    None = 0,

    /// <summary>Overwrite the range with zeros.</summary>
    Zero = 1 << 0,

    /// <summary>Write back and invalidate the caches covering the range.</summary>
    Flush = 1 << 1,

    /// <summary>Zero the range, then flush the caches.</summary>
    ZeroAndFlush = Zero | Flush,
}
