// SPDX-License-Identifier: Apache-2.0
using System;
using System.IO;
using System.Linq;
using Tyche.Integration.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tyche.Integration.Tests.Cli;

/// <summary><c>tyche render</c>: DOT of the capability graph and of the memory map; SVG through Graphviz.</summary>
public sealed class RenderCommandTests
{
    private readonly ITestOutputHelper _output;

    public RenderCommandTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void The_capability_graph_names_domains_capabilities_management_edges_devices_and_derivations()
    {
        (int exit, string dot, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "render", "-");
        Assert.True(exit == 0, error);
        Assert.StartsWith("digraph tyche_capabilities {", dot, StringComparison.Ordinal);
        Assert.EndsWith("}\n", dot, StringComparison.Ordinal);
        // Domains by their script names, with id and sealed/I-O state.
        Assert.Contains("label=\"os\\nid 1, sealed", dot, StringComparison.Ordinal);
        Assert.Contains("label=\"saas\\nid 2, unsealed", dot, StringComparison.Ordinal);
        Assert.Contains("label=\"gpu\\nid 3, unsealed, I/O", dot, StringComparison.Ordinal);
        // os's management capabilities point at saas (slot 1) and gpu (slot 2).
        Assert.Contains("-> d1g0 [label=\"manages\"]", dot, StringComparison.Ordinal);
        Assert.Contains("-> d2g0 [label=\"manages\"]", dot, StringComparison.Ordinal);
        // The GPU's device capability points at the PCI function.
        Assert.Contains("[shape=hexagon, label=\"PCI 0000:00:02.0\"]", dot, StringComparison.Ordinal);
        // Both the carve (saas) and the alias (gpu) are derived from the OS's root region (slot 0 of os).
        Assert.Contains("c0g0_0 -> c1g0_", dot, StringComparison.Ordinal);
        Assert.Contains("c0g0_0 -> c2g0_", dot, StringComparison.Ordinal);
        Assert.Equal(2, dot.Split('\n').Count(l => l.Contains("label=\"derived\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_memory_map_view_colours_segments_by_reference_count()
    {
        (int exit, string dot, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "render", "-", "--view", "memory");
        Assert.True(exit == 0, error);
        Assert.StartsWith("digraph tyche_memory_map {", dot, StringComparison.Ordinal);
        // [0x200000, 0x400000) is shared by os and gpu (alias) → refs 2, yellow; the rest has one owner each.
        Assert.Contains("fillcolor=khaki, label=\"{[0x200000, 0x400000) | 2 MiB | refs 2}\"", dot, StringComparison.Ordinal);
        Assert.Contains("fillcolor=palegreen, label=\"{[0x0, 0x200000) | 2 MiB | refs 1}\"", dot, StringComparison.Ordinal);
        Assert.Contains("fillcolor=palegreen, label=\"{[0x400000, 0x800000) | 4 MiB | refs 1}\"", dot, StringComparison.Ordinal);
        // One edge per accessor, labelled with its rights: os and gpu on the shared segment, saas on its carve.
        Assert.Contains("d0g0 -> seg1 [label=\"RWXS\"]", dot, StringComparison.Ordinal);
        Assert.Contains("d2g0 -> seg1 [label=\"RW__\"]", dot, StringComparison.Ordinal);
        Assert.Contains("d1g0 -> seg2 [label=\"RWX_\"]", dot, StringComparison.Ordinal);
    }

    [Fact]
    public void Svg_is_rendered_through_graphviz_dot()
    {
        if (!ExternalTool.Require("dot", _output))
        {
            return;
        }

        string svg = Path.Combine(Path.GetTempPath(), $"tyche-render-{Environment.ProcessId}-{Guid.NewGuid():N}.svg");
        try
        {
            (int exit, string output, string error) = CliHarness.RunWithInput(CliHarness.Scenario, "render", "-", "--view", "memory", "--svg", svg);
            Assert.True(exit == 0, error);
            Assert.Equal(string.Empty, output);
            string content = File.ReadAllText(svg);
            Assert.Contains("<svg", content, StringComparison.Ordinal);
            Assert.Contains("refs 2", content, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(svg);
        }
    }

    [Fact]
    public void Bad_command_lines_and_missing_files_get_their_exit_codes()
    {
        Assert.Equal(64, CliHarness.Run("render").Exit);
        Assert.Equal(64, CliHarness.Run("render", "x", "--view", "bogus").Exit);
        Assert.Equal(64, CliHarness.Run("render", "x", "--frobnicate").Exit);
        (int exit, _, string error) = CliHarness.Run("render", "/nonexistent/tyche.scenario");
        Assert.Equal(66, exit);
        Assert.Contains("cannot read '/nonexistent/tyche.scenario'", error, StringComparison.Ordinal);
    }
}
