// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Xml.Linq;
using Tyche.Integration.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tyche.Integration.Tests.Packaging;

/// <summary>
/// Packs the five libraries into a temporary folder, checks each package's metadata and symbols, then builds and runs
/// samples/PackageConsumer against those packages (PackageReference, a nuget.config of its own, its own packages folder).
/// </summary>
public sealed class PackageTests : IDisposable
{
    private static readonly string[] s_libraries =
    [
        "Tyche.Capabilities", "Tyche.Backends.Abstractions", "Tyche.Backends.VTx", "Tyche.Backends.Pmp", "Tyche.Attestation",
    ];

    private readonly ITestOutputHelper _output;
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("tyche-packages-");

    public PackageTests(ITestOutputHelper output) => _output = output;

    public void Dispose()
    {
        try
        {
            _temp.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is not worth failing the test run for.
        }
    }

    [Fact]
    public void Packed_libraries_install_into_a_consumer_project_that_builds_and_runs()
    {
        Stopwatch clock = Stopwatch.StartNew();
        // A unique prerelease version: no package cache anywhere can hold a stale copy of it.
        string version = string.Create(CultureInfo.InvariantCulture, $"0.1.0-ci.{DateTime.UtcNow:yyyyMMddHHmmssfff}");
        string feed = Directory.CreateDirectory(Path.Combine(_temp.FullName, "feed")).FullName;

        // One build for the five libraries: a solution filter over the repository's solution, packed in a single invocation.
        string filter = Path.Combine(_temp.FullName, "libraries.slnf");
        File.WriteAllText(filter, JsonSerializer.Serialize(new
        {
            solution = new { path = RepositoryPaths.Combine("Tyche.Capabilities.sln"), projects = s_libraries.Select(l => $"{l}/{l}.csproj").ToArray() },
        }));
        // The libraries were just built (this test project references them) in this configuration: pack those binaries
        // (--no-build) instead of compiling them again, which keeps the test well under two minutes on a busy machine.
        ProcessResult pack = ProcessRunner.Run("dotnet",
        [
            "pack", filter, "-c", RepositoryPaths.Configuration, "--no-build", "-o", feed, "-p:Version=" + version, "-nodeReuse:false",
        ]);
        Assert.True(pack.ExitCode == 0, pack.Describe());
        _output.WriteLine($"packed in {clock.Elapsed}");
        foreach (string library in s_libraries)
        {
            CheckPackage(feed, library, version);
        }

        string consumer = CopyConsumer();
        WriteNuGetConfig(consumer, feed);
        string packages = Path.Combine(_temp.FullName, "packages");
        string bin = Path.Combine(_temp.FullName, "consumer-bin");
        ProcessResult build = ProcessRunner.Run("dotnet",
        [
            "build", Path.Combine(consumer, "PackageConsumer.csproj"), "-c", "Release", "-o", bin,
            "-p:TychePackageVersion=" + version, "-p:RestorePackagesPath=" + packages, "-nodeReuse:false",
        ], workingDirectory: consumer);
        Assert.True(build.ExitCode == 0, build.Describe());
        AssertRestoredAsPackages(consumer, version);

        ProcessResult run = ProcessRunner.Run("dotnet", [Path.Combine(bin, "PackageConsumer.dll")], workingDirectory: consumer,
            timeout: TimeSpan.FromMinutes(1));
        _output.WriteLine(run.StandardOutput);
        Assert.True(run.ExitCode == 0, run.Describe());
        string[] lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string library in s_libraries)
        {
            Assert.Contains(lines, l => l.StartsWith($"package {library} ", StringComparison.Ordinal));
            // The assembly the consumer ran is the one inside the package (byte for byte), not a project's output.
            Assert.Equal(PackedAssembly(feed, library, version), File.ReadAllBytes(Path.Combine(bin, library + ".dll")));
        }

        Assert.Contains("backends: log, pmp, vtx", lines);
        Assert.Contains(lines, l => l.StartsWith("ok: verifier: ", StringComparison.Ordinal) && l.EndsWith(" checks, trusted", StringComparison.Ordinal));
        Assert.Contains("ok: revoked memory is zero", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("FAILED", StringComparison.Ordinal));
        Assert.Equal("consumer: ok", lines[^1]);
        _output.WriteLine($"total {clock.Elapsed}");
    }

    private static void CheckPackage(string feed, string id, string version)
    {
        string nupkg = Path.Combine(feed, $"{id}.{version}.nupkg");
        string snupkg = Path.Combine(feed, $"{id}.{version}.snupkg");
        Assert.True(File.Exists(nupkg), $"{nupkg} was not produced.");
        Assert.True(File.Exists(snupkg), $"{snupkg} (symbols) was not produced.");

        using (ZipArchive archive = ZipFile.OpenRead(nupkg))
        {
            Assert.NotNull(archive.GetEntry("README.md"));
            ZipArchiveEntry nuspecEntry = archive.GetEntry(id + ".nuspec") ?? throw new InvalidDataException($"{id}: no nuspec.");
            XDocument nuspec;
            using (Stream stream = nuspecEntry.Open())
            {
                nuspec = XDocument.Load(stream);
            }

            XNamespace ns = nuspec.Root!.Name.Namespace;
            XElement metadata = nuspec.Root.Element(ns + "metadata")!;
            Assert.Equal(id, metadata.Element(ns + "id")!.Value);
            Assert.Equal(version, metadata.Element(ns + "version")!.Value);
            Assert.Equal("README.md", metadata.Element(ns + "readme")!.Value);
            XElement license = metadata.Element(ns + "license")!;
            Assert.Equal("expression", license.Attribute("type")!.Value);
            Assert.Equal("Apache-2.0", license.Value);
            Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value), $"{id}: no description.");
            XElement repository = metadata.Element(ns + "repository")!;
            Assert.StartsWith("https://", repository.Attribute("url")!.Value, StringComparison.Ordinal);
            Assert.Matches("^[0-9a-f]{40}$", repository.Attribute("commit")!.Value);
            // Dependencies between Tyche packages carry the same version.
            foreach (XElement dependency in metadata.Descendants(ns + "dependency")
                         .Where(d => d.Attribute("id")!.Value.StartsWith("Tyche.", StringComparison.Ordinal)))
            {
                Assert.Equal(version, dependency.Attribute("version")!.Value);
            }

            ZipArchiveEntry dll = archive.GetEntry($"lib/net10.0/{id}.dll") ?? throw new InvalidDataException($"{id}: no lib/net10.0 assembly.");
            Assert.NotNull(archive.GetEntry($"lib/net10.0/{id}.xml"));
            using MemoryStream image = new();
            using (Stream stream = dll.Open())
            {
                stream.CopyTo(image);
            }

            image.Position = 0;
            using PEReader pe = new(image);
            // A deterministic compilation records a Reproducible entry in the debug directory.
            Assert.Contains(pe.ReadDebugDirectory(), e => e.Type == DebugDirectoryEntryType.Reproducible);
        }

        using ZipArchive symbols = ZipFile.OpenRead(snupkg);
        ZipArchiveEntry pdb = symbols.GetEntry($"lib/net10.0/{id}.pdb") ?? throw new InvalidDataException($"{id}: no PDB in the symbols package.");
        if (s_originUrl.Value is { } origin && origin.StartsWith("https://github.com/", StringComparison.Ordinal))
        {
            // The SDK's SourceLink maps documents to raw.githubusercontent.com at the built commit.
            using Stream stream = pdb.Open();
            using MemoryStream bytes = new();
            stream.CopyTo(bytes);
            string text = System.Text.Encoding.UTF8.GetString(bytes.ToArray());
            Assert.Contains("{\"documents\":{", text, StringComparison.Ordinal);
            Assert.Contains("https://raw.githubusercontent.com/", text, StringComparison.Ordinal);
        }
    }

    private static readonly Lazy<string?> s_originUrl = new(() =>
    {
        ProcessResult git = ProcessRunner.Run("git", ["remote", "get-url", "origin"]);
        return git.ExitCode == 0 ? git.StandardOutput.Trim() : null;
    });

    private static byte[] PackedAssembly(string feed, string id, string version)
    {
        using ZipArchive archive = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
        using Stream stream = archive.GetEntry($"lib/net10.0/{id}.dll")!.Open();
        using MemoryStream copy = new();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private string CopyConsumer()
    {
        string source = RepositoryPaths.Combine("samples", "PackageConsumer");
        string destination = Directory.CreateDirectory(Path.Combine(_temp.FullName, "PackageConsumer")).FullName;
        foreach (string file in Directory.EnumerateFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }

        return destination;
    }

    private static void WriteNuGetConfig(string directory, string feed)
    {
        // The local folder first, nuget.org for third-party dependencies; the user's package cache as a read-only fallback
        // so an offline machine with warm caches still restores.
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        XElement fallback = Directory.Exists(cache)
            ? new XElement("fallbackPackageFolders", new XElement("add", new XAttribute("key", "cache"), new XAttribute("value", cache)))
            : new XElement("fallbackPackageFolders");
        XDocument config = new(
            new XElement("configuration",
                new XElement("packageSources",
                    new XElement("clear"),
                    new XElement("add", new XAttribute("key", "tyche-local"), new XAttribute("value", feed)),
                    new XElement("add", new XAttribute("key", "nuget.org"), new XAttribute("value", "https://api.nuget.org/v3/index.json"))),
                fallback));
        config.Save(Path.Combine(directory, "nuget.config"));
    }

    private static void AssertRestoredAsPackages(string consumer, string version)
    {
        string assets = Path.Combine(consumer, "obj", "project.assets.json");
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(assets));
        JsonElement libraries = document.RootElement.GetProperty("libraries");
        HashSet<string> seen = [];
        foreach (JsonProperty library in libraries.EnumerateObject())
        {
            string name = library.Name.Split('/')[0];
            if (Array.IndexOf(s_libraries, name) >= 0)
            {
                Assert.Equal("package", library.Value.GetProperty("type").GetString());
                Assert.Equal($"{name}/{version}", library.Name);
                seen.Add(name);
            }
        }

        Assert.Equal(s_libraries.Length, seen.Count);
    }
}
