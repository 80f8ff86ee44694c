// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Backends.Abstractions;

/// <summary>
/// Layout of the in-memory <see cref="PhysicalMemory"/> registered by
/// <see cref="MonitorServiceCollectionExtensions.AddInMemoryPhysicalMemory"/> (tests, samples, harnesses).
/// </summary>
public sealed class PhysicalMemoryOptions
{
    /// <summary>Physical address of the first byte; 4 KiB aligned. Default 0.</summary>
    public ulong BaseAddress { get; set; }

    /// <summary>Number of 4 KiB frames backed by the byte array. Default 1024 (4 MiB).</summary>
    public int FrameCount { get; set; } = 1024;

    /// <summary>Index of the first frame reserved for hardware tables. Default 768 (the last quarter).</summary>
    public int TableAreaFirstFrame { get; set; } = 768;

    /// <summary>Number of frames reserved for hardware tables. Default 256.</summary>
    public int TableFrameCount { get; set; } = 256;
}
