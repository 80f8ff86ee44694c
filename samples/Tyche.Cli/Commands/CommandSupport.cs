// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.Json;

namespace Tyche.Cli;

/// <summary>Exit codes of <c>verify</c>, <c>render</c>, <c>ept</c> and <c>pmp</c> beyond <see cref="ExitCodes"/>.</summary>
internal static class MoreExitCodes
{
    /// <summary><c>verify</c>: the evidence was read but at least one check failed.</summary>
    public const int Rejected = 1;

    /// <summary>An input was read but names nothing usable (e.g. an unknown domain) or is malformed (BSD <c>EX_DATAERR</c>).</summary>
    public const int DataError = 65;

    /// <summary>A required external program (e.g. Graphviz <c>dot</c>) is not installed (BSD <c>EX_UNAVAILABLE</c>).</summary>
    public const int Unavailable = 69;

    /// <summary>An output file could not be written (BSD <c>EX_CANTCREAT</c>).</summary>
    public const int CannotCreate = 73;
}

/// <summary>A parsed command line: positional arguments, <c>--name value</c> options and <c>--flag</c> switches.</summary>
internal sealed class ParsedArguments
{
    private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    /// <summary>Positional arguments in order.</summary>
    public List<string> Positional { get; } = [];

    /// <summary>Parses <paramref name="args"/>; <paramref name="valued"/> lists the options that take a value.</summary>
    /// <param name="args">The arguments after the command name.</param>
    /// <param name="valued">Options followed by a value (e.g. <c>--svg</c>).</param>
    /// <param name="flags">Options without a value (e.g. <c>--json</c>).</param>
    /// <param name="parsed">The result.</param>
    /// <param name="error">Why parsing failed.</param>
    /// <returns><see langword="false"/> on an unknown option or a missing value.</returns>
    public static bool TryParse(IReadOnlyList<string> args, IReadOnlyCollection<string> valued, IReadOnlyCollection<string> flags,
        out ParsedArguments parsed, out string error)
    {
        parsed = new ParsedArguments();
        error = string.Empty;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (Contains(valued, arg))
                {
                    if (i + 1 >= args.Count)
                    {
                        error = $"option {arg} needs a value.";
                        return false;
                    }

                    parsed._options[arg] = args[++i];
                }
                else if (Contains(flags, arg))
                {
                    parsed._flags.Add(arg);
                }
                else
                {
                    error = $"unknown option {arg}.";
                    return false;
                }
            }
            else
            {
                parsed.Positional.Add(arg);
            }
        }

        return true;
    }

    /// <summary>The value of an option, or null.</summary>
    /// <param name="name">E.g. <c>--svg</c>.</param>
    /// <returns>The value.</returns>
    public string? Option(string name) => _options.TryGetValue(name, out string? value) ? value : null;

    /// <summary>Whether a flag was given.</summary>
    /// <param name="name">E.g. <c>--json</c>.</param>
    /// <returns><see langword="true"/> when present.</returns>
    public bool Flag(string name) => _flags.Contains(name);

    private static bool Contains(IReadOnlyCollection<string> set, string value)
    {
        foreach (string item in set)
        {
            if (item == value)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Helpers shared by the commands.</summary>
internal static class CommandSupport
{
    /// <summary>JSON output settings: indented, camelCase property names.</summary>
    public static JsonSerializerOptions Json { get; } = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Finds an executable on the PATH.</summary>
    /// <param name="tool">Its file name.</param>
    /// <returns>The full path, or null.</returns>
    public static string? FindOnPath(string tool)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator,
                     StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs Graphviz <c>dot</c> to turn DOT text into SVG.</summary>
    /// <param name="dotText">The graph.</param>
    /// <param name="svg">The SVG on success.</param>
    /// <param name="error">Why it failed.</param>
    /// <returns><see langword="false"/> when <c>dot</c> is missing or fails.</returns>
    public static bool TryRenderSvg(string dotText, out string svg, out string error)
    {
        svg = string.Empty;
        string? dot = FindOnPath("dot");
        if (dot is null)
        {
            error = "Graphviz 'dot' is not installed (apt-get install graphviz); the DOT text can still be written with --output.";
            return false;
        }

        ProcessStartInfo info = new(dot, "-Tsvg")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process process = Process.Start(info) ?? throw new InvalidOperationException("Could not start dot.");
        System.Threading.Tasks.Task<string> output = process.StandardOutput.ReadToEndAsync();
        System.Threading.Tasks.Task<string> errors = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(dotText);
        process.StandardInput.Close();
        process.WaitForExit();
        svg = output.GetAwaiter().GetResult();
        error = errors.GetAwaiter().GetResult();
        return process.ExitCode == 0 && svg.Contains("<svg", StringComparison.Ordinal);
    }

    /// <summary>Writes text to a file, reporting failures.</summary>
    /// <param name="path">The file.</param>
    /// <param name="text">The content.</param>
    /// <param name="console">Where errors go.</param>
    /// <param name="command">The command name for messages.</param>
    /// <returns><see langword="false"/> when the file could not be written (the error has been printed).</returns>
    public static bool TryWrite(string path, string text, CliConsole console, string command)
    {
        try
        {
            File.WriteAllText(path, text);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            console.Error.WriteLine($"tyche {command}: cannot write '{path}': {e.Message}");
            return false;
        }
    }
}
