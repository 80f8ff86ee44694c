// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using Tyche.Capabilities.Scenarios;

namespace Tyche.Cli;

/// <summary><c>tyche run FILE</c>: runs a capability scenario script and prints one result line per command.</summary>
internal sealed class RunCommand : ICliCommand
{
    /// <inheritdoc />
    public string Name => "run";

    /// <inheritdoc />
    public string Summary => "Run a capability scenario script (FILE, or - for standard input); one result line per command.";

    /// <inheritdoc />
    public string Help =>
        "Usage: tyche run FILE\n\n"
        + "Runs the capability scenario language (docs/scenario-language.md) against a fresh engine and prints\n"
        + "exactly one line per command: '<command> => ok ...|err <ErrorName>|usage <message>'.\n"
        + "FILE may be '-' to read standard input. A transcript (this command's output) is valid input:\n"
        + "everything after a standalone '=>' is ignored, so 'tyche run T | diff - T' checks a transcript.\n\n"
        + "Exit codes: 0 when every line ran (whatever the results), 66 when FILE cannot be read,\n"
        + "64 when the command line is wrong.\n\n"
        + "Commands of the language:\n  "
        + string.Join("\n  ", ScenarioRunner.CommandSyntaxes) + "\n";

    /// <inheritdoc />
    public int Execute(IReadOnlyList<string> args, CliConsole console)
    {
        if (args.Count != 1)
        {
            console.Error.WriteLine("tyche run: expected exactly one argument, the script FILE (or - for standard input).");
            return ExitCodes.Usage;
        }

        string path = args[0];
        if (path == "-")
        {
            new ScenarioRunner().Run(console.In, console.Out);
            return ExitCodes.Success;
        }

        StreamReader reader;
        try
        {
            reader = new StreamReader(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            console.Error.WriteLine($"tyche run: cannot read '{path}': {e.Message}");
            return ExitCodes.NoInput;
        }

        try
        {
            new ScenarioRunner().Run(reader, console.Out);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // E.g. FILE is a directory on some systems, or the medium fails mid-read.
            console.Error.WriteLine($"tyche run: cannot read '{path}': {e.Message}");
            return ExitCodes.NoInput;
        }
        finally
        {
            reader.Dispose();
        }

        return ExitCodes.Success;
    }
}
