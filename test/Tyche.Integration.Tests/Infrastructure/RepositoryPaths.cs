// SPDX-License-Identifier: Apache-2.0
using System;
using System.IO;

namespace Tyche.Integration.Tests.Infrastructure;

/// <summary>Locates the repository the tests were built from.</summary>
internal static class RepositoryPaths
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The folder holding <c>Tyche.Capabilities.sln</c>.</summary>
    public static string Root => s_root.Value;

    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The configuration this test assembly was built with (the samples are run with the same one).</summary>
    public static string Configuration =>
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    private static string FindRoot()
    {
        DirectoryInfo? directory = new(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Tyche.Capabilities.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName
            ?? throw new InvalidOperationException($"No Tyche.Capabilities.sln above {AppContext.BaseDirectory}.");
    }
}
