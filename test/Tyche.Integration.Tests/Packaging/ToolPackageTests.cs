// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.IO;
using Tyche.Integration.Tests.Infrastructure;

namespace Tyche.Integration.Tests.Packaging;

/// <summary>The <c>tyche</c> tool packs as a .NET tool, installs into a tool path and runs its commands.</summary>
public sealed class ToolPackageTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("tyche-tool-");

    public void Dispose()
    {
        try
        {
            _temp.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is not worth failing the run for.
        }
    }

    [Fact]
    public void The_packed_tool_installs_and_runs()
    {
        string version = string.Create(CultureInfo.InvariantCulture, $"0.1.0-ci.{DateTime.UtcNow:yyyyMMddHHmmssfff}");
        string feed = Path.Combine(_temp.FullName, "feed");
        ProcessResult pack = ProcessRunner.Run("dotnet",
        [
            "pack", RepositoryPaths.Combine("samples", "Tyche.Cli", "Tyche.Cli.csproj"), "-c", RepositoryPaths.Configuration, "--no-build",
            "-o", feed, "-p:Version=" + version, "-nodeReuse:false",
        ]);
        Assert.True(pack.ExitCode == 0, pack.Describe());
        Assert.True(File.Exists(Path.Combine(feed, $"Tyche.Cli.{version}.nupkg")));

        string tools = Path.Combine(_temp.FullName, "tools");
        ProcessResult install = ProcessRunner.Run("dotnet",
            ["tool", "install", "Tyche.Cli", "--version", version, "--tool-path", tools, "--add-source", feed],
            environment: new System.Collections.Generic.Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(_temp.FullName, "packages") });
        Assert.True(install.ExitCode == 0, install.Describe());

        string script = Path.Combine(_temp.FullName, "two.scenario");
        File.WriteAllText(script, "os = create_manager_domain ALL\nram = create_root_region os 0x80000000 0x80400000 RWX\n");
        ProcessResult run = ProcessRunner.Run(Path.Combine(tools, "tyche"), ["pmp", script, "os"]);
        Assert.True(run.ExitCode == 0, run.Describe());
        // NAPOT pmpaddr = (base >> 2) | (size / 8 - 1) = 0x20000000 | 0x7ffff (RISC-V Privileged ISA §3.7.1).
        Assert.Contains("pmp0   0x3b0  NAPOT  -RWX  0x000000002007ffff   [0x80000000, 0x80400000)", run.StandardOutput, StringComparison.Ordinal);
    }
}
