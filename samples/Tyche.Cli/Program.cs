// SPDX-License-Identifier: Apache-2.0
namespace Tyche.Cli;

internal static class Program
{
    private static int Main()
    {
        System.Console.WriteLine("Tyche.Cli: under construction (see the issues).");
        return 0;
    }
}
