// SPDX-License-Identifier: Apache-2.0
using System;

namespace Tyche.Cli;

/// <summary>The <c>tyche</c> command-line tool: <c>tyche &lt;command&gt; [arguments]</c>; <c>tyche --help</c> lists the commands.</summary>
internal static class Program
{
    private static int Main(string[] args) =>
        CliApplication.CreateDefault().Run(args, new CliConsole(Console.In, Console.Out, Console.Error));
}
