// SPDX-License-Identifier: Apache-2.0
using System.Collections.Generic;
using System.Linq;

namespace Tyche.Capabilities.Tests.Scenarios;

/// <summary>
/// Replays every transcript under <c>test/data/scenarios</c> (the 31 ported reference engine tests, the language's
/// reference transcript and example, and the scenarios of this library's additions and fixes) line by line.
/// </summary>
public sealed class ScenarioConformanceTests
{
    /// <summary>One case per scenario file; the case name is the file name.</summary>
    public static TheoryData<string> Files => new(ScenarioFiles.Names);

    [Theory]
    [MemberData(nameof(Files))]
    public void Transcript_replays_line_by_line(string file)
    {
        IReadOnlyList<string> mismatches = ScenarioFiles.Replay(file, out int commands);

        Assert.True(commands > 0, $"{file} contains no command.");
        Assert.True(mismatches.Count == 0,
            $"{mismatches.Count} mismatching line(s) of {commands}:\n" + string.Join("\n", mismatches.Take(25)));
    }

    [Fact]
    public void Every_reference_engine_test_is_ported()
    {
        // tyche-capa-engine.md §6.1 items 6-36 (items 1-5 test the update buffer and are C# tests).
        string[] names = [.. ScenarioFiles.Names];
        for (int item = 6; item <= 36; item++)
        {
            string prefix = item.ToString("00", System.Globalization.CultureInfo.InvariantCulture) + "_";
            Assert.Single(names, n => n.StartsWith(prefix, System.StringComparison.Ordinal));
        }
    }
}
