// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;

namespace Tyche.Integration.Tests.Infrastructure;

/// <summary>The outcome of a finished child process.</summary>
internal sealed record ProcessResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>Everything the process printed, for assertion messages.</summary>
    public string Describe() =>
        $"`{Command}` exited with {ExitCode}.\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>Runs child processes with a time limit, capturing their output.</summary>
internal static class ProcessRunner
{
    public static ProcessResult Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null, string? standardInput = null)
    {
        ProcessStartInfo info = new(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepositoryPaths.Root,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (environment is not null)
        {
            foreach (KeyValuePair<string, string> pair in environment)
            {
                info.Environment[pair.Key] = pair.Value;
            }
        }

        string command = $"{fileName} {string.Join(' ', info.ArgumentList)}";
        using Process process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {command}.");
        StringBuilder output = new();
        StringBuilder error = new();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (error)
                {
                    error.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (standardInput is not null)
        {
            process.StandardInput.Write(standardInput);
            process.StandardInput.Close();
        }

        TimeSpan limit = timeout ?? TimeSpan.FromMinutes(3);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"`{command}` did not finish within {limit}.\n{output}\n{error}");
        }

        process.WaitForExit();
        return new ProcessResult(command, process.ExitCode, output.ToString(), error.ToString());
    }

    /// <summary>Whether an executable is on the PATH.</summary>
    public static bool IsOnPath(string tool)
    {
        string? path = Environment.GetEnvironmentVariable("PATH");
        if (path is null)
        {
            return false;
        }

        foreach (string directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(directory, tool)))
            {
                return true;
            }
        }

        return false;
    }
}
