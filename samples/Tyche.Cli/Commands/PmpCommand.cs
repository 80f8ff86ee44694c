// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Tyche.Backends.Pmp;
using Tyche.Capabilities;

namespace Tyche.Cli;

/// <summary><c>tyche pmp FILE DOMAIN</c>: the RISC-V PMP configuration (pmpcfg/pmpaddr) the PMP backend compiles for a domain.</summary>
internal sealed class PmpCommand : ICliCommand
{
    private static readonly string[] s_valued = ["--entries", "--xlen", "--granularity"];
    private static readonly string[] s_flags = ["--json"];

    /// <inheritdoc />
    public string Name => "pmp";

    /// <inheritdoc />
    public string Summary => "Dump the RISC-V PMP entries and CSR values a domain of a scenario compiles to (--json for machines).";

    /// <inheritdoc />
    public string Help =>
        "Usage: tyche pmp FILE DOMAIN [--entries N] [--xlen 32|64] [--granularity G] [--json]\n\n"
        + "Runs the scenario script FILE (or - for standard input), takes DOMAIN (a name the script bound, e.g. d1,\n"
        + "or a handle such as 'H(1, gen 0)') and compiles its effective permissions with the PMP backend's compiler\n"
        + "(fewest NAPOT/NA4/TOR entries; RISC-V Privileged ISA §3.7). Prints one row per active entry: index, CSR,\n"
        + "address-matching mode, L/R/W/X, the pmpaddr value and the decoded byte range; then every pmpcfg value.\n"
        + "Defaults: 16 entries, RV64, granularity 0 (4-byte).\n\n"
        + "Exit codes: 0 success, 1 the domain does not fit (needed/available entries are printed), 64 bad command\n"
        + "line, 65 unknown domain, 66 FILE cannot be read.\n";

    /// <inheritdoc />
    public int Execute(IReadOnlyList<string> args, CliConsole console)
    {
        if (!ParsedArguments.TryParse(args, s_valued, s_flags, out ParsedArguments parsed, out string error) || parsed.Positional.Count != 2)
        {
            console.Error.WriteLine($"tyche pmp: {(error.Length > 0 ? error : "expected a script FILE and a DOMAIN.")}");
            return ExitCodes.Usage;
        }

        PmpHartOptions options = new();
        if (!TryInt(parsed.Option("--entries"), 16, out int entries) || !TryInt(parsed.Option("--xlen"), 64, out int xlen)
            || !TryInt(parsed.Option("--granularity"), 0, out int granularity) || xlen is not (32 or 64))
        {
            console.Error.WriteLine("tyche pmp: --entries and --granularity take a decimal number, --xlen 32 or 64.");
            return ExitCodes.Usage;
        }

        options.EntryCount = entries;
        options.Granularity = granularity;
        options.Xlen = xlen == 32 ? PmpXlen.Rv32 : PmpXlen.Rv64;
        if (xlen == 32)
        {
            options.PhysicalAddressBits = PmpEncoding.MaxPhysicalAddressBitsRv32;
        }

        if (!options.TryValidate(out string? optionError))
        {
            console.Error.WriteLine($"tyche pmp: {optionError}");
            return ExitCodes.Usage;
        }

        if (!ScenarioSession.TryLoad(parsed.Positional[0], console, Name, out ScenarioSession session))
        {
            return ExitCodes.NoInput;
        }

        if (!session.TryResolveDomain(parsed.Positional[1], out DomainHandle domain))
        {
            console.Error.WriteLine($"tyche pmp: no live domain '{parsed.Positional[1]}' after the script.");
            return MoreExitCodes.DataError;
        }

        MemoryPermission[] ranges = new MemoryPermission[Math.Max(session.Engine.GetPermissionCount(domain), 0)];
        CapabilityError read = session.Engine.TryGetPermissions(domain, ranges, out int count);
        if (read != CapabilityError.Ok)
        {
            console.Error.WriteLine($"tyche pmp: reading the permissions of {parsed.Positional[1]} failed: {read}.");
            return MoreExitCodes.DataError;
        }

        PmpCompiler compiler = new(options);
        PmpImage image = compiler.CreateImage();
        PmpCompileResult result = compiler.Compile(ranges.AsSpan(0, count), image);
        string name = session.NameOf(domain);
        if (parsed.Flag("--json"))
        {
            console.Out.WriteLine(JsonSerializer.Serialize(ToJson(name, domain, options, result, image, ranges.AsSpan(0, count)), CommandSupport.Json));
        }
        else
        {
            console.Out.Write(ToTable(name, domain, options, result, image, ranges.AsSpan(0, count)));
        }

        return result.IsOk ? ExitCodes.Success : MoreExitCodes.Rejected;
    }

    private static bool TryInt(string? text, int fallback, out int value)
    {
        value = fallback;
        return text is null || int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The decoded entries of an image: (index, mode, config, pmpaddr, start, end).</summary>
    internal static List<(int Index, PmpAddressMatching Mode, PmpConfigBits Config, ulong Address, ulong Start, ulong End)> Decode(PmpImage image)
    {
        List<(int, PmpAddressMatching, PmpConfigBits, ulong, ulong, ulong)> rows = [];
        for (int i = 0; i < image.EntryCount; i++)
        {
            PmpConfigBits config = image.GetConfig(i);
            PmpAddressMatching mode = PmpEncoding.GetMatching(config);
            ulong address = image.GetAddress(i);
            switch (mode)
            {
                case PmpAddressMatching.Tor:
                    ulong bottom = i == 0 ? 0 : image.GetAddress(i - 1) << PmpEncoding.AddressShift;
                    rows.Add((i, mode, config, address, bottom, address << PmpEncoding.AddressShift));
                    break;
                case PmpAddressMatching.Na4:
                    rows.Add((i, mode, config, address, address << PmpEncoding.AddressShift, (address << PmpEncoding.AddressShift) + PmpEncoding.WordSize));
                    break;
                case PmpAddressMatching.Napot:
                    PmpEncoding.DecodeNapot(address, out ulong start, out ulong size);
                    rows.Add((i, mode, config, address, start, start + size));
                    break;
            }
        }

        return rows;
    }

    private static string Flags(PmpConfigBits config) => string.Concat(
        (config & PmpConfigBits.Locked) != 0 ? "L" : "-", (config & PmpConfigBits.Read) != 0 ? "R" : "-",
        (config & PmpConfigBits.Write) != 0 ? "W" : "-", (config & PmpConfigBits.Execute) != 0 ? "X" : "-");

    private static string ToTable(string name, DomainHandle domain, PmpHartOptions options, PmpCompileResult result, PmpImage image,
        ReadOnlySpan<MemoryPermission> ranges)
    {
        StringBuilder text = new();
        text.Append(CultureInfo.InvariantCulture,
            $"PMP configuration of {name} ({domain}), RV{(int)options.Xlen}, {options.EntryCount} entries, G={options.Granularity}\n");
        text.Append(CultureInfo.InvariantCulture, $"effective permissions: {ranges.Length} range(s)\n");
        foreach (MemoryPermission range in ranges)
        {
            text.Append("  ").Append(range.ToString()).Append('\n');
        }

        if (!result.IsOk)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"REFUSED: {result.Status} (entries needed {result.EntriesNeeded}, available {result.EntriesAvailable})\n");
            return text.ToString();
        }

        text.Append(CultureInfo.InvariantCulture, $"entries used: {result.EntriesNeeded} of {result.EntriesAvailable}\n");
        text.Append(CultureInfo.InvariantCulture, $"{"entry",-6} {"csr",-6} {"mode",-6} {"LRWX",-5} {"pmpaddr",-20} range\n");
        foreach ((int index, PmpAddressMatching mode, PmpConfigBits config, ulong address, ulong start, ulong end) in Decode(image))
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{"pmp" + index.ToString(CultureInfo.InvariantCulture),-6} 0x{PmpEncoding.AddressCsr(index):x3}  {mode.ToString().ToUpperInvariant(),-6} {Flags(config),-5} 0x{address:x16}   [0x{start:x}, 0x{end:x})\n");
        }

        for (int register = 0; register < image.ConfigRegisterCount; register++)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"pmpcfg (csr 0x{image.GetConfigRegisterCsr(register):x3}) = 0x{image.GetConfigRegister(register):x16}\n");
        }

        return text.ToString();
    }

    private static object ToJson(string name, DomainHandle domain, PmpHartOptions options, PmpCompileResult result, PmpImage image,
        ReadOnlySpan<MemoryPermission> ranges)
    {
        List<object> permissions = [];
        foreach (MemoryPermission range in ranges)
        {
            permissions.Add(new { start = Hex(range.Start), end = Hex(range.End), rights = MemoryOperationsFormat.Rights(range.Operations) });
        }

        List<object> entries = [];
        List<object> configRegisters = [];
        if (result.IsOk)
        {
            foreach ((int index, PmpAddressMatching mode, PmpConfigBits config, ulong address, ulong start, ulong end) in Decode(image))
            {
                entries.Add(new
                {
                    index,
                    addressCsr = Hex(PmpEncoding.AddressCsr(index)),
                    mode = mode.ToString().ToUpperInvariant(),
                    config = Hex((byte)config),
                    locked = (config & PmpConfigBits.Locked) != 0,
                    read = (config & PmpConfigBits.Read) != 0,
                    write = (config & PmpConfigBits.Write) != 0,
                    execute = (config & PmpConfigBits.Execute) != 0,
                    pmpaddr = Hex(address),
                    start = Hex(start),
                    end = Hex(end),
                });
            }

            for (int register = 0; register < image.ConfigRegisterCount; register++)
            {
                configRegisters.Add(new { csr = Hex(image.GetConfigRegisterCsr(register)), value = Hex(image.GetConfigRegister(register)) });
            }
        }

        return new
        {
            domain = name,
            handle = domain.ToString(),
            xlen = (int)options.Xlen,
            entryCount = options.EntryCount,
            granularity = options.Granularity,
            status = result.Status.ToString(),
            entriesNeeded = result.EntriesNeeded,
            entriesAvailable = result.EntriesAvailable,
            permissions,
            entries,
            configRegisters,
        };
    }

    private static string Hex(ulong value) => string.Create(CultureInfo.InvariantCulture, $"0x{value:x}");
}
