// SPDX-License-Identifier: Apache-2.0
using System;
using Xunit.Abstractions;

namespace Tyche.Integration.Tests.Infrastructure;

/// <summary>
/// The repository's rule for tests that need an external tool: with <c>CI=true</c> a missing tool fails the test;
/// outside CI the test returns early and says loudly which tool is missing.
/// </summary>
internal static class ExternalTool
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="tool"/> is installed; otherwise fails under CI or reports the skip.</summary>
    public static bool Require(string tool, ITestOutputHelper output)
    {
        if (ProcessRunner.IsOnPath(tool))
        {
            return true;
        }

        string message = $"SKIPPED: the external tool '{tool}' is not installed (on CI=true this is a failure).";
        Assert.False(IsCi, message);
        output.WriteLine(message);
        Console.Error.WriteLine(message);
        return false;
    }
}
