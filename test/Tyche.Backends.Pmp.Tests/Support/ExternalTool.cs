// SPDX-License-Identifier: Apache-2.0
using System;
using System.IO;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Support;

/// <summary>Finds external tools on PATH. With CI=true a missing tool fails the test; otherwise the test skips loudly.</summary>
internal static class ExternalTool
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Find(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Returns the tool's path, or null after writing a loud skip message (outside CI only).</summary>
    public static string? Require(string name, ITestOutputHelper output) => Require(name, output, IsCi);

    public static string? Require(string name, ITestOutputHelper output, bool isCi)
    {
        string? path = Find(name);
        if (path is not null)
        {
            return path;
        }

        if (isCi)
        {
            Assert.Fail($"{name} is not installed; CI requires it (.ci/run installs qemu-system-misc and gcc-riscv64-unknown-elf).");
        }

        output.WriteLine($"SKIPPED: {name} not found on PATH; this test only runs where the tool is installed (it is required when CI=true).");
        Console.Error.WriteLine($"[Tyche.Backends.Pmp.Tests] SKIPPED: {name} not found on PATH");
        return null;
    }

    public static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Tyche.Capabilities.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("Repository root (Tyche.Capabilities.sln) not found above " + AppContext.BaseDirectory);
    }
}
