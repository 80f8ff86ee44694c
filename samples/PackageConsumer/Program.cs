// SPDX-License-Identifier: Apache-2.0
using System;
using System.Globalization;
using System.Reflection;
using Tyche.Capabilities;

namespace PackageConsumer;

/// <summary>Uses every Tyche package through its NuGet package and prints one line per fact it checked.</summary>
internal static class Program
{
    private static readonly string[] s_packages =
    [
        "Tyche.Capabilities", "Tyche.Backends.Abstractions", "Tyche.Backends.VTx", "Tyche.Backends.Pmp", "Tyche.Attestation",
    ];

    private static int Main()
    {
        int failures = 0;
        foreach (string name in s_packages)
        {
            Assembly assembly = Assembly.Load(name);
            string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"package {name} {version}"));
        }

        if (!DeviceId.TryParse("00:02.0", out DeviceId gpu))
        {
            failures++;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"device {gpu} requester-id 0x{gpu.RequesterId:x4}"));
        AccessRights page = new(0x1000, 0x2000, MemoryOperations.Read | MemoryOperations.Write);
        Console.WriteLine($"region {page}");
        Console.WriteLine(failures == 0 ? "consumer: ok" : "consumer: FAILED");
        return failures == 0 ? 0 : 1;
    }
}
