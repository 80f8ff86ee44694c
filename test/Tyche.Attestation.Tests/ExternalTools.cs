// SPDX-License-Identifier: Apache-2.0
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;

namespace Tyche.Attestation.Tests;

/// <summary>Finds external tools; with CI=true a missing tool is a failure, otherwise tests skip loudly.</summary>
internal static class ExternalTools
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Find(string tool)
    {
        string path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (string dir in path.Split(Path.PathSeparator).Concat(["/usr/bin", "/usr/local/bin", "/usr/sbin"]))
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }

        return null;
    }

    /// <summary>Returns true when every tool exists. In CI a missing tool throws (test fails); elsewhere it prints a skip notice.</summary>
    public static bool Require(params string[] tools)
    {
        string[] missing = tools.Where(t => Find(t) is null).ToArray();
        if (missing.Length == 0) return true;
        string message = $"SKIPPED: external tool(s) not installed: {string.Join(", ", missing)} (apt-get install swtpm swtpm-tools tpm2-tools openssl)";
        if (IsCi) throw new InvalidOperationException("CI=true but " + message);
        Console.Error.WriteLine(message);
        return false;
    }

    public static (int ExitCode, string Output) Run(string tool, string arguments, string? workingDirectory = null, params (string Key, string Value)[] environment)
    {
        var psi = new ProcessStartInfo(Find(tool) ?? tool, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach ((string k, string v) in environment) psi.Environment[k] = v;
        using Process p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {arguments} did not finish in 60 s");
        }

        return (p.ExitCode, stdout + stderr.Result);
    }
}
