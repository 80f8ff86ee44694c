// SPDX-License-Identifier: Apache-2.0
namespace ConfidentialSaas;

internal static class Program
{
    private static int Main()
    {
        System.Console.WriteLine("ConfidentialSaas: under construction (see the issues).");
        return 0;
    }
}
