// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Tyche.Backends.Abstractions;

/// <summary>Validates <see cref="PhysicalMemoryOptions"/> with one message per broken rule.</summary>
internal sealed class PhysicalMemoryOptionsValidator : IValidateOptions<PhysicalMemoryOptions>
{
    public ValidateOptionsResult Validate(string? name, PhysicalMemoryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string> failures = [];
        if (options.BaseAddress % PhysicalMemory.FrameSize != 0)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"PhysicalMemoryOptions.BaseAddress is 0x{options.BaseAddress:X16}; it must be 4 KiB aligned."));
        }

        if (options.FrameCount < 1)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"PhysicalMemoryOptions.FrameCount is {options.FrameCount}; it must be at least 1."));
        }

        if (options.TableFrameCount < 1)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"PhysicalMemoryOptions.TableFrameCount is {options.TableFrameCount}; backends need at least 1 frame for their tables."));
        }

        if (options.TableAreaFirstFrame < 0 || (long)options.TableAreaFirstFrame + options.TableFrameCount > options.FrameCount)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"PhysicalMemoryOptions: the table area (frames {options.TableAreaFirstFrame} to {(long)options.TableAreaFirstFrame + options.TableFrameCount - 1}) must lie inside the {options.FrameCount} backed frames."));
        }

        if (options.FrameCount > 0 && (ulong)options.FrameCount * PhysicalMemory.FrameSize > ulong.MaxValue - options.BaseAddress)
        {
            failures.Add("PhysicalMemoryOptions: BaseAddress + FrameCount * 4 KiB overflows the 64-bit physical address space.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
