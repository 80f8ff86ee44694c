// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Tyche.Capabilities.Scenarios;

namespace Tyche.Capabilities.Tests.Scenarios;

/// <summary>Locates the scenario transcripts under <c>test/data/scenarios</c> and replays them.</summary>
internal static class ScenarioFiles
{
    private static readonly Lazy<string> s_directory = new(FindDirectory);

    /// <summary>The absolute path of <c>test/data/scenarios</c> (found by walking up from the test binaries).</summary>
    public static string Directory => s_directory.Value;

    /// <summary>Every <c>*.scenario</c> file name, sorted.</summary>
    public static IEnumerable<string> Names =>
        System.IO.Directory.EnumerateFiles(Directory, "*.scenario").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);

    /// <summary>The full path of one scenario file.</summary>
    public static string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>
    /// Replays a transcript: runs every command through a fresh <see cref="ScenarioRunner"/> and compares each output line
    /// with the line in the file. On lines whose expected result is <c>usage …</c> only the word <c>usage</c> is compared
    /// (the message wording is free). After every command the engine's invariant checker must report nothing.
    /// </summary>
    /// <returns>The mismatches, each as <c>file:line: …</c>; empty when the transcript replays exactly.</returns>
    public static IReadOnlyList<string> Replay(string name, out int commands)
    {
        string[] lines = File.ReadAllLines(PathOf(name));
        ScenarioRunner runner = new();
        List<string> mismatches = [];
        InvariantViolation[] violations = new InvariantViolation[16];
        commands = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            string where = $"{name}:{i + 1}";
            string line = lines[i];
            ScenarioLine? actual = runner.Execute(line);
            if (actual is null)
            {
                continue;
            }

            commands++;
            if (!TrySplit(line, out string expectedResult))
            {
                mismatches.Add($"{where}: the line has no expected result ('command => result'); got '{actual}'");
                continue;
            }

            bool same = expectedResult.StartsWith("usage", StringComparison.Ordinal)
                ? actual.Kind == ScenarioResultKind.Usage
                : actual.Result == expectedResult;
            if (!same)
            {
                mismatches.Add($"{where}: {actual.Command}\n    expected: {expectedResult}\n    actual:   {actual.Result}");
            }

            int total = runner.Engine.CheckInvariants(violations);
            if (total != 0)
            {
                mismatches.Add($"{where}: {actual.Command}\n    invariant checker reports {total} violation(s), first {violations[0]}");
            }
        }

        return mismatches;
    }

    /// <summary>The expected result of a transcript line: the text after the first standalone <c>=&gt;</c>, comment removed, spaces normalised.</summary>
    public static bool TrySplit(string line, out string expectedResult)
    {
        int hash = line.IndexOf('#', StringComparison.Ordinal);
        string code = hash < 0 ? line : line[..hash];
        string[] tokens = code.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        int arrow = Array.IndexOf(tokens, "=>");
        expectedResult = arrow < 0 ? string.Empty : string.Join(' ', tokens[(arrow + 1)..]);
        return arrow >= 0 && expectedResult.Length > 0;
    }

    private static string FindDirectory()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "test", "data", "scenarios");
            if (System.IO.Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"test/data/scenarios not found above {AppContext.BaseDirectory}.");
    }
}
