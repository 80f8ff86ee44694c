// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Tyche.Capabilities;

/// <summary>Validates <see cref="TycheOptions"/> with one message per bad value, naming the option, its value and the rule.</summary>
internal sealed class TycheOptionsValidator : IValidateOptions<TycheOptions>
{
    public ValidateOptionsResult Validate(string? name, TycheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string> failures = [];
        AtLeast(failures, nameof(TycheOptions.Domains), options.Domains, 1);
        AtLeast(failures, nameof(TycheOptions.CapabilitiesPerDomain), options.CapabilitiesPerDomain, 1);
        AtLeast(failures, nameof(TycheOptions.Regions), options.Regions, 1);
        AtLeast(failures, nameof(TycheOptions.TrackerNodes), options.TrackerNodes, 1);
        AtLeast(failures, nameof(TycheOptions.PendingUpdates), options.PendingUpdates, 1);
        AtLeast(failures, nameof(TycheOptions.Devices), options.Devices, 0);
        if (options.Cores is < 1 or > 64)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"TycheOptions.Cores is {options.Cores}; it must be between 1 and 64 because core maps are 64-bit."));
        }

        if (failures.Count == 0)
        {
            // Backstop for rules the engine adds later: its own check must pass too.
            try
            {
                options.ToCapacities().Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                failures.Add($"TycheOptions are rejected by the engine: {e.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void AtLeast(List<string> failures, string option, int value, int minimum)
    {
        if (value < minimum)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"TycheOptions.{option} is {value}; it must be at least {minimum} (it sizes a pool the engine allocates once)."));
        }
    }
}
