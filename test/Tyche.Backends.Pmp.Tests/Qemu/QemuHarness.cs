// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading;
using Tyche.Backends.Pmp.Tests.Support;
using Xunit.Abstractions;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>One probe: an access the harness performs from a privilege mode.</summary>
internal readonly record struct Probe(ulong Address, AccessKind Kind, PrivilegeMode Mode, int Size);

/// <summary>One table of a boot: a full PMP image and the probes to run under it.</summary>
internal sealed record HarnessTable(PmpImage Image, IReadOnlyList<Probe> Probes);

/// <summary>The outcome of one probe as printed by the harness.</summary>
internal readonly record struct ProbeResult(bool Allowed, int Cause, ulong Tval);

/// <summary>What the harness printed for one boot.</summary>
internal sealed class HarnessRun
{
    public int EntryCount { get; set; }

    public int Granularity { get; set; }

    public ulong AddressReadback { get; set; }

    public bool Done { get; set; }

    /// <summary>The byte count the harness printed on its DONE line (bytes it sent before that line).</summary>
    public long PrintedBytes { get; set; } = -1;

    /// <summary>The bytes received before the DONE line; equal to <see cref="PrintedBytes"/> when nothing was lost.</summary>
    public long ReceivedBytes { get; set; } = -1;

    public Dictionary<(int Table, int Entry), ulong> Addresses { get; } = [];

    public Dictionary<(int Table, int Register), ulong> Configs { get; } = [];

    public Dictionary<(int Table, int Probe), ProbeResult> Probes { get; } = [];

    public string Output { get; set; } = string.Empty;
}

/// <summary>
/// Builds the bare-metal harness (test/harness/riscv) with riscv64-unknown-elf-gcc into a temporary directory and runs
/// QEMU's virt machine on a table blob (notes/hw-validation.md: blob at 0x80200000 via -device loader, force-raw=on).
/// </summary>
internal static class QemuHarness
{
    public const ulong BlobAddress = 0x8020_0000;
    public const ulong ArenaStart = 0x8040_0000;
    public const ulong ArenaEnd = 0x8080_0000;
    public const ulong StubPage = 0x8001_0000;
    private const uint Magic = 0x544d5050;
    private const uint Version = 2;

    private static readonly Lock BuildLock = new();
    private static readonly Dictionary<PmpXlen, string> Built = [];

    /// <summary>The tools a boot needs, or null (test skipped outside CI; failed inside CI).</summary>
    public static bool TryGetTools(PmpXlen xlen, ITestOutputHelper output, out string gcc, out string qemu)
    {
        gcc = ExternalTool.Require("riscv64-unknown-elf-gcc", output) ?? string.Empty;
        qemu = ExternalTool.Require(xlen == PmpXlen.Rv64 ? "qemu-system-riscv64" : "qemu-system-riscv32", output) ?? string.Empty;
        return gcc.Length > 0 && qemu.Length > 0;
    }

    public static string Build(string gcc, PmpXlen xlen)
    {
        lock (BuildLock)
        {
            if (Built.TryGetValue(xlen, out string? elf) && File.Exists(elf))
            {
                return elf;
            }

            string source = Path.Combine(ExternalTool.RepositoryRoot(), "test", "harness", "riscv");
            string outDir = Path.Combine(Path.GetTempPath(), "tyche-pmp-harness-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(outDir);
            elf = Path.Combine(outDir, xlen == PmpXlen.Rv64 ? "harness64.elf" : "harness32.elf");
            string rsp = xlen == PmpXlen.Rv64 ? "rv64.rsp" : "rv32.rsp";
            (int code, string text) = Run(gcc, source, TimeSpan.FromMinutes(2), "@" + rsp, "-T", "link.ld", "start.S", "main.c", "-o", elf);
            Assert.True(code == 0, $"riscv64-unknown-elf-gcc failed ({code}):\n{text}");
            Built[xlen] = elf;
            return elf;
        }
    }

    /// <summary>
    /// Writes the blob (format in test/harness/riscv/main.c), boots QEMU and parses its report. The UART goes to a file,
    /// not to a pipe: QEMU's 16550 model (hw/char/serial.c, MAX_XMIT_RETRY) drops a byte after a few failed writes to a
    /// full non-blocking chardev, so a slow reader of <c>-serial stdio</c> silently lost whole stretches of output.
    /// A regular file never refuses a write; the DONE line's byte count proves the report arrived complete.
    /// </summary>
    public static HarnessRun Boot(string qemu, string elf, IReadOnlyList<HarnessTable> tables, int entryCount)
    {
        string id = Guid.NewGuid().ToString("N");
        string dir = Path.GetDirectoryName(elf)!;
        string blob = Path.Combine(dir, $"table-{id}.bin");
        string serial = Path.Combine(dir, $"serial-{id}.txt");
        try
        {
            File.WriteAllBytes(blob, Encode(tables, entryCount));
            (int code, string console) = Run(qemu, dir, TimeSpan.FromSeconds(120),
                "-machine", "virt", "-bios", "none", "-display", "none", "-monitor", "none", "-serial", "file:" + serial,
                "-kernel", elf, "-device", $"loader,file={blob},addr=0x{BlobAddress:x},force-raw=on");
            string text = File.Exists(serial) ? File.ReadAllText(serial, Encoding.ASCII) : string.Empty;
            HarnessRun run = Parse(text);
            Assert.True(code == 0 && run.Done, $"QEMU exited with {code} (DONE printed: {run.Done}):\n{Tail(text)}\n{console}");
            return run;
        }
        finally
        {
            File.Delete(blob);
            File.Delete(serial);
        }
    }

    private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;

    /// <summary>The blob must end below the probe arena, which the harness fills with ecalls before reading the blob.</summary>
    public const ulong MaxBlobBytes = ArenaStart - BlobAddress;

    public static byte[] Encode(IReadOnlyList<HarnessTable> tables, int entryCount)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Magic);
        w.Write(Version);
        w.Write((uint)tables.Count);
        w.Write((uint)entryCount);
        for (int i = 0; i < 4; i++)
        {
            w.Write(0u);
        }

        foreach (HarnessTable t in tables)
        {
            w.Write((uint)t.Probes.Count);
            w.Write(0u);
            w.Write(0u);
            w.Write(0u);
            for (int i = 0; i < entryCount; i++)
            {
                w.Write(t.Image.GetAddress(i));
                w.Write((byte)t.Image.GetConfig(i));
                w.Write(new byte[7]);
            }

            foreach (Probe p in t.Probes)
            {
                w.Write(p.Address);
                w.Write((byte)p.Kind);
                w.Write((byte)p.Mode);
                w.Write((byte)p.Size);
                w.Write(new byte[5]);
            }
        }

        w.Flush();
        Assert.True((ulong)ms.Length <= MaxBlobBytes, $"table blob of {ms.Length} bytes would overlap the probe arena at 0x{ArenaStart:x} (at most {MaxBlobBytes} bytes fit at 0x{BlobAddress:x}); split the tables over several boots");
        return ms.ToArray();
    }

    public static HarnessRun Parse(string text)
    {
        var run = new HarnessRun { Output = text };

        // Completeness before any line is trusted: a lost stretch of UART output splices two lines into one that may
        // still parse (seen: "P 48 12 FAULT 7 000000000201039c2", a probe line ending in a CSR value of table 56). DONE
        // carries the number of bytes the harness sent before it.
        int done = text.StartsWith("DONE ", StringComparison.Ordinal) ? 0 : text.LastIndexOf("\nDONE ", StringComparison.Ordinal) + 1;
        if (done > 0 || text.StartsWith("DONE ", StringComparison.Ordinal))
        {
            int eol = text.IndexOf('\n', done);
            string count = text[(done + "DONE ".Length)..(eol < 0 ? text.Length : eol)].Trim();
            run.PrintedBytes = long.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out long printed) ? printed : -1;
            run.ReceivedBytes = done;
            if (run.PrintedBytes != run.ReceivedBytes)
            {
                throw new InvalidOperationException($"harness output incomplete: the harness printed {count} bytes before DONE, {done} arrived");
            }
        }

        foreach (string raw in text.Split('\n'))
        {
            string[] f = raw.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 0)
            {
                continue;
            }

            switch (f[0])
            {
                case "NPMP":
                    run.EntryCount = int.Parse(f[1], CultureInfo.InvariantCulture);
                    run.Granularity = int.Parse(f[3], CultureInfo.InvariantCulture);
                    run.AddressReadback = Hex(f[5]);
                    break;
                case "CSR" when f[2] == "A":
                    run.Addresses[(Int(f[1]), Int(f[3]))] = Hex(f[4]);
                    break;
                case "CSR" when f[2] == "C":
                    run.Configs[(Int(f[1]), Int(f[3]))] = Hex(f[4]);
                    break;
                case "P":
                    run.Probes[(Int(f[1]), Int(f[2]))] = f[3] switch
                    {
                        "ALLOW" => new ProbeResult(true, 0, 0),
                        "FAULT" => new ProbeResult(false, Int(f[4]), Hex(f[5])),
                        _ => throw new InvalidOperationException("harness rejected a probe: " + raw),
                    };
                    break;
                case "DONE":
                    run.Done = run.PrintedBytes >= 0;
                    break;
                case "ERROR":
                    throw new InvalidOperationException("harness error: " + raw);
            }
        }

        return run;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static ulong Hex(string s) => ulong.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static (int Code, string Output) Run(string file, string workingDirectory, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.Append(e.Data).Append('\n'); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.Append(e.Data).Append('\n'); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, $"timeout after {timeout.TotalSeconds} s\n{stdout}\n{stderr}");
        }

        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.ToString());
    }
}
