// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Tyche.Backends.Pmp.Tests.Support;
using Tyche.Capabilities;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>Golden layouts (test/data/pmp/*.pmp): hand-derived register values, then the same image on QEMU's hart.</summary>
public sealed class GoldenLayoutTests(ITestOutputHelper output)
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.GetFiles(Path.Combine(ExternalTool.RepositoryRoot(), "test", "data", "pmp"), "*.pmp").OrderBy(f => f, StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    private sealed record Golden(PmpHartOptions Options, List<PmpMonitorRegion> Monitor, List<MemoryPermission> Ranges, List<(int Line, int Entry, ulong Address, byte Config)> Expect, List<(int Line, int Register, ulong Value)> Registers);

    private static ulong Num(string s) => s.StartsWith("0x", StringComparison.Ordinal)
        ? ulong.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
        : ulong.Parse(s, CultureInfo.InvariantCulture);

    private static Golden Load(string name)
    {
        string[] lines = File.ReadAllLines(Path.Combine(ExternalTool.RepositoryRoot(), "test", "data", "pmp", name));
        var g = new Golden(new PmpHartOptions(), [], [], [], []);
        for (int n = 0; n < lines.Length; n++)
        {
            string[] f = lines[n].Split('#')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 0)
            {
                continue;
            }

            switch (f[0])
            {
                case "hart":
                    g.Options.Xlen = f[1] == "rv32" ? PmpXlen.Rv32 : PmpXlen.Rv64;
                    g.Options.EntryCount = (int)Num(f[3]);
                    g.Options.Granularity = (int)Num(f[5]);
                    g.Options.PhysicalAddressBits = (int)Num(f[7]);
                    break;
                case "monitor":
                    PmpConfigBits perms = (f[3].Contains('R', StringComparison.Ordinal) ? PmpConfigBits.Read : 0)
                        | (f[3].Contains('W', StringComparison.Ordinal) ? PmpConfigBits.Write : 0)
                        | (f[3].Contains('X', StringComparison.Ordinal) ? PmpConfigBits.Execute : 0);
                    g.Monitor.Add(new PmpMonitorRegion(Num(f[1]), Num(f[2]), perms, f[4] == "L"));
                    break;
                case "range":
                    g.Ranges.Add(Ranges.P(Num(f[1]), Num(f[2]), f[3]));
                    break;
                case "expect":
                    g.Expect.Add((n + 1, (int)Num(f[1]), Num(f[2]), (byte)Num(f[3])));
                    break;
                case "cfgreg":
                    g.Registers.Add((n + 1, (int)Num(f[1]), Num(f[2])));
                    break;
                default:
                    throw new InvalidDataException($"{name}:{n + 1}: unknown directive '{f[0]}'");
            }
        }

        return g;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Golden_register_values(string file)
    {
        Golden g = Load(file);
        var compiler = new PmpCompiler(g.Options, [.. g.Monitor]);
        PmpImage image = compiler.CreateImage();
        PmpCompileResult r = compiler.Compile([.. g.Ranges], image);
        Assert.True(r.IsOk, r.ToString());
        var listed = new HashSet<int>();
        foreach ((int line, int entry, ulong address, byte config) in g.Expect)
        {
            listed.Add(entry);
            Assert.True(image.GetAddress(entry) == address && (byte)image.GetConfig(entry) == config,
                $"{file}:{line}: entry {entry} is 0x{image.GetAddress(entry):x}/0x{(byte)image.GetConfig(entry):x2}, golden 0x{address:x}/0x{config:x2}\n{image}");
        }

        for (int i = 0; i < image.EntryCount; i++)
        {
            Assert.True(listed.Contains(i) || image.GetConfig(i) == PmpConfigBits.None, $"{file}: unexpected entry {i}\n{image}");
        }

        foreach ((int line, int register, ulong value) in g.Registers)
        {
            Assert.True(image.GetConfigRegister(register) == value, $"{file}:{line}: pmpcfg register {register} is 0x{image.GetConfigRegister(register):x}, golden 0x{value:x}");
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Golden_layouts_on_the_hart(string file)
    {
        Golden g = Load(file);
        if (!QemuHarness.TryGetTools(g.Options.Xlen, output, out string gcc, out string qemu))
        {
            return;
        }

        var compiler = new PmpCompiler(g.Options, [.. g.Monitor]);
        var rng = new Random(file.Aggregate(17, (h, c) => (h * 31) + c));
        var layout = new Layout(file, [.. g.Ranges]);
        LayoutChecker.Stats stats = LayoutChecker.Check(compiler, g.Monitor, [layout], rng, qemu, QemuHarness.Build(gcc, g.Options.Xlen), output, 120);
        Assert.Equal(120, stats.Probes);
    }
}
