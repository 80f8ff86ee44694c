// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Linq;

namespace Tyche.Cli;

/// <summary>Standard streams of one CLI invocation (the real console, or strings in tests).</summary>
/// <param name="In">Standard input.</param>
/// <param name="Out">Standard output.</param>
/// <param name="Error">Standard error.</param>
internal sealed record CliConsole(System.IO.TextReader In, System.IO.TextWriter Out, System.IO.TextWriter Error);

/// <summary>Process exit codes of the tool.</summary>
internal static class ExitCodes
{
    /// <summary>The command ran (for <c>run</c>: every line ran, whatever its result).</summary>
    public const int Success = 0;

    /// <summary>The command line itself is wrong: unknown command, missing or extra argument (BSD <c>EX_USAGE</c>).</summary>
    public const int Usage = 64;

    /// <summary>An input file could not be read (BSD <c>EX_NOINPUT</c>).</summary>
    public const int NoInput = 66;
}

/// <summary>One subcommand of the tool (<c>run</c>, and later <c>verify</c>, <c>render</c>, <c>ept</c>, <c>pmp</c>).</summary>
internal interface ICliCommand
{
    /// <summary>The word that selects the command, e.g. <c>run</c>.</summary>
    string Name { get; }

    /// <summary>One line for the command list of <c>tyche --help</c>.</summary>
    string Summary { get; }

    /// <summary>The full help text of <c>tyche &lt;command&gt; --help</c>, starting with the usage line.</summary>
    string Help { get; }

    /// <summary>Runs the command with the arguments after its name.</summary>
    /// <param name="args">The remaining arguments.</param>
    /// <param name="console">The streams to use.</param>
    /// <returns>The process exit code (see <see cref="ExitCodes"/>).</returns>
    int Execute(IReadOnlyList<string> args, CliConsole console);
}

/// <summary>The command dispatcher: picks the subcommand by its first argument and handles <c>--help</c>.</summary>
internal sealed class CliApplication
{
    private readonly SortedDictionary<string, ICliCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>The tool with every built-in command registered. New subcommands are added here.</summary>
    public static CliApplication CreateDefault() => new CliApplication()
        .Add(new RunCommand())
        .Add(new RenderCommand())
        .Add(new PmpCommand())
        .Add(new EptCommand())
        .Add(new VerifyCommand());

    /// <summary>The registered commands, by name.</summary>
    public IReadOnlyDictionary<string, ICliCommand> Commands => _commands;

    /// <summary>Registers a command.</summary>
    /// <param name="command">The command; its name must be new.</param>
    /// <returns>This application, for chaining.</returns>
    /// <exception cref="ArgumentException">A command with the same name exists.</exception>
    public CliApplication Add(ICliCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        _commands.Add(command.Name, command);
        return this;
    }

    /// <summary>Runs the tool.</summary>
    /// <param name="args">The process arguments.</param>
    /// <param name="console">The streams to use.</param>
    /// <returns>The process exit code.</returns>
    public int Run(IReadOnlyList<string> args, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        if (args.Count == 0)
        {
            console.Error.Write(Overview());
            return ExitCodes.Usage;
        }

        string first = args[0];
        if (IsHelp(first) || first == "help")
        {
            if (args.Count > 1 && _commands.TryGetValue(args[1], out ICliCommand? topic))
            {
                console.Out.Write(topic.Help);
                return ExitCodes.Success;
            }

            console.Out.Write(Overview());
            return ExitCodes.Success;
        }

        if (!_commands.TryGetValue(first, out ICliCommand? command))
        {
            console.Error.WriteLine($"tyche: unknown command '{first}'.");
            console.Error.Write(Overview());
            return ExitCodes.Usage;
        }

        string[] rest = args.Skip(1).ToArray();
        if (rest.Any(IsHelp))
        {
            console.Out.Write(command.Help);
            return ExitCodes.Success;
        }

        return command.Execute(rest, console);
    }

    private static bool IsHelp(string arg) => arg is "--help" or "-h" or "-?";

    private string Overview()
    {
        System.Text.StringBuilder text = new();
        text.Append("Usage: tyche <command> [arguments]\n\nCommands:\n");
        int width = _commands.Keys.Max(k => k.Length);
        foreach (ICliCommand command in _commands.Values)
        {
            text.Append("  ").Append(command.Name.PadRight(width)).Append("  ").Append(command.Summary).Append('\n');
        }

        text.Append("\nRun 'tyche <command> --help' for a command's arguments.\n");
        text.Append("Exit codes: 0 success, 64 bad command line, 66 input file cannot be read; each command's --help lists the others.\n");
        return text.ToString();
    }
}
