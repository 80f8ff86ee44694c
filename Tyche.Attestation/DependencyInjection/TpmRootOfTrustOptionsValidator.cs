// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Microsoft.Extensions.Options;

namespace Tyche.Attestation;

/// <summary>Validates <see cref="TpmRootOfTrustOptions"/> with one message per broken rule.</summary>
internal sealed class TpmRootOfTrustOptionsValidator : IValidateOptions<TpmRootOfTrustOptions>
{
    // TCG PC Client Platform Firmware Profile §3.3.4: PCR 16 (debug) and 23 (application support) are resettable from locality 0.
    private const int DebugPcr = 16;
    private const int ApplicationPcr = 23;

    public ValidateOptionsResult Validate(string? name, TpmRootOfTrustOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string> failures = [];
        bool tcp = options.Port != 0;
        bool device = !string.IsNullOrEmpty(options.DevicePath);
        if (tcp == device)
        {
            failures.Add("TpmRootOfTrustOptions: set exactly one of Port (a TCP TPM such as swtpm) and DevicePath (e.g. /dev/tpmrm0).");
        }

        if (tcp && options.Port is < 1 or > 65535)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"TpmRootOfTrustOptions.Port is {options.Port}; it must be between 1 and 65535."));
        }

        if (tcp && string.IsNullOrWhiteSpace(options.Host))
        {
            failures.Add("TpmRootOfTrustOptions.Host is empty; name the TPM's host (e.g. 127.0.0.1).");
        }

        if (device && !File.Exists(options.DevicePath))
        {
            failures.Add($"TpmRootOfTrustOptions.DevicePath '{options.DevicePath}' does not exist (is the TPM driver loaded?).");
        }

        if (options.Pcr is not (DebugPcr or ApplicationPcr))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"TpmRootOfTrustOptions.Pcr is {options.Pcr}; use PCR 16 or 23, the ones locality 0 can reset before the monitor is measured."));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
