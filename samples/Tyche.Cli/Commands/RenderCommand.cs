// SPDX-License-Identifier: Apache-2.0
using System.Collections.Generic;
using Tyche.Cli.Rendering;

namespace Tyche.Cli;

/// <summary><c>tyche render FILE</c>: Graphviz pictures of the state a scenario script leaves behind.</summary>
internal sealed class RenderCommand : ICliCommand
{
    private static readonly string[] s_valued = ["--view", "--output", "--svg"];
    private static readonly string[] s_flags = [];

    /// <inheritdoc />
    public string Name => "render";

    /// <inheritdoc />
    public string Summary => "Draw the domain/capability/derivation graph or the memory map of a scenario as Graphviz DOT or SVG.";

    /// <inheritdoc />
    public string Help =>
        "Usage: tyche render FILE [--view capabilities|memory] [--output OUT.dot] [--svg OUT.svg]\n\n"
        + "Runs the scenario script FILE (or - for standard input) and draws the final state:\n"
        + "  capabilities  domains, their capability tables, management/switch edges, devices, and region\n"
        + "                derivation (a region's parent is the smallest containing region with children)\n"
        + "  memory        the memory map with reference counts (Figure 4 of the HotOS paper):\n"
        + "                green = exclusive (1 domain), yellow = shared by 2, orange = more\n"
        + "The DOT text goes to standard output unless --output is given. --svg runs Graphviz 'dot -Tsvg'.\n\n"
        + "Exit codes: 0 success, 64 bad command line, 66 FILE cannot be read, 69 'dot' not installed (with --svg),\n"
        + "73 an output file cannot be written.\n";

    /// <inheritdoc />
    public int Execute(IReadOnlyList<string> args, CliConsole console)
    {
        if (!ParsedArguments.TryParse(args, s_valued, s_flags, out ParsedArguments parsed, out string error) || parsed.Positional.Count != 1)
        {
            console.Error.WriteLine($"tyche render: {(error.Length > 0 ? error : "expected exactly one script FILE.")}");
            return ExitCodes.Usage;
        }

        string view = parsed.Option("--view") ?? "capabilities";
        if (view is not ("capabilities" or "memory"))
        {
            console.Error.WriteLine($"tyche render: --view must be 'capabilities' or 'memory', not '{view}'.");
            return ExitCodes.Usage;
        }

        if (!ScenarioSession.TryLoad(parsed.Positional[0], console, Name, out ScenarioSession session))
        {
            return ExitCodes.NoInput;
        }

        SystemSnapshot snapshot = SystemSnapshot.Capture(session.Engine, session.NameOf);
        string dot = view == "memory" ? DotWriter.MemoryMap(snapshot) : DotWriter.CapabilityGraph(snapshot);
        string? output = parsed.Option("--output");
        string? svgPath = parsed.Option("--svg");
        if (output is not null)
        {
            if (!CommandSupport.TryWrite(output, dot, console, Name))
            {
                return MoreExitCodes.CannotCreate;
            }
        }
        else if (svgPath is null)
        {
            console.Out.Write(dot);
        }

        if (svgPath is not null)
        {
            if (!CommandSupport.TryRenderSvg(dot, out string svg, out string svgError))
            {
                console.Error.WriteLine($"tyche render: {svgError.Trim()}");
                return MoreExitCodes.Unavailable;
            }

            if (!CommandSupport.TryWrite(svgPath, svg, console, Name))
            {
                return MoreExitCodes.CannotCreate;
            }

            console.Error.WriteLine($"tyche render: wrote {svgPath}");
        }

        return ExitCodes.Success;
    }
}
