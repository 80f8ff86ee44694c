// SPDX-License-Identifier: Apache-2.0
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using Tyche.Backends.Abstractions;
using Tyche.Backends.VTx;
using Tyche.Capabilities;

namespace Tyche.Cli;

/// <summary><c>tyche ept FILE DOMAIN</c>: the EPT (and VT-d second-level table) the VT-x backend builds for a domain.</summary>
internal sealed class EptCommand : ICliCommand
{
    // The backend's table pages live in an in-memory physical memory placed high, away from typical scenario addresses.
    private const ulong TableBase = 0x10_0000_0000;
    private const int TableFrames = 4096;
    private const int PhysicalAddressBits = 46;
    private static readonly string[] s_valued = [];
    private static readonly string[] s_flags = ["--json"];

    /// <inheritdoc />
    public string Name => "ept";

    /// <inheritdoc />
    public string Summary => "Dump the EPT (and VT-d second-level table) the VT-x backend builds for a domain of a scenario (--json for machines).";

    /// <inheritdoc />
    public string Help =>
        "Usage: tyche ept FILE DOMAIN [--json]\n\n"
        + "Runs the scenario script FILE (or - for standard input), hands the final state of every live domain to the VT-x\n"
        + "backend (EPT per domain, VT-d tables per device; Intel SDM Vol. 3C §29.3) and walks DOMAIN's tables from its\n"
        + "EPTP: one row per run of leaf entries with the same rights and memory type (guest-physical range, host-physical\n"
        + "start, page size and count, R/W/X, memory type, the first leaf's raw value). A domain that owns PCI devices also\n"
        + "gets its VT-d second-level table. MAXPHYADDR 46; table pages at 0x1000000000.\n\n"
        + "Exit codes: 0 success, 1 the backend refused the state (the refusal is printed), 64 bad command line,\n"
        + "65 unknown domain, 66 FILE cannot be read.\n";

    /// <inheritdoc />
    public int Execute(IReadOnlyList<string> args, CliConsole console)
    {
        if (!ParsedArguments.TryParse(args, s_valued, s_flags, out ParsedArguments parsed, out string error) || parsed.Positional.Count != 2)
        {
            console.Error.WriteLine($"tyche ept: {(error.Length > 0 ? error : "expected a script FILE and a DOMAIN.")}");
            return ExitCodes.Usage;
        }

        if (!ScenarioSession.TryLoad(parsed.Positional[0], console, Name, out ScenarioSession session))
        {
            return ExitCodes.NoInput;
        }

        if (!session.TryResolveDomain(parsed.Positional[1], out DomainHandle domain))
        {
            console.Error.WriteLine($"tyche ept: no live domain '{parsed.Positional[1]}' after the script.");
            return MoreExitCodes.DataError;
        }

        PhysicalMemory memory = new(TableBase, TableFrames, 0, TableFrames);
        VtxBackend backend = new(memory, memory, new VtxBackendOptions { PhysicalAddressBits = PhysicalAddressBits });
        if (!TryBuild(session, backend, out BackendRefusal refusal))
        {
            console.Out.WriteLine($"REFUSED by the VT-x backend: {refusal}");
            return MoreExitCodes.Rejected;
        }

        string name = session.NameOf(domain);
        List<Run> ept = [];
        ulong eptp = 0;
        if (backend.TryGetEptPointer(domain, out eptp))
        {
            Walk(memory, eptp & EptEntry.AddressMask(PhysicalAddressBits), PagingLevels.FourLevels, 0, ept, secondLevel: false);
        }

        List<Run> sl = [];
        bool hasSl = backend.TryGetSecondLevelTable(domain, out ulong slRoot, out ushort domainId);
        if (hasSl)
        {
            Walk(memory, slRoot, PagingLevels.FourLevels, 0, sl, secondLevel: true);
        }

        DeviceId[] devices = new DeviceId[session.Engine.Capacities.Devices];
        int deviceCount = session.Engine.GetDevices(domain, devices);
        if (parsed.Flag("--json"))
        {
            console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                domain = name,
                handle = domain.ToString(),
                eptp = Hex(eptp),
                tablePages = memory.AllocatedFrameCount,
                ept = ToJson(ept),
                devices = devices.AsSpan(0, Math.Max(deviceCount, 0)).ToArray().Select(d => d.ToString()),
                secondLevel = hasSl ? new { root = Hex(slRoot), domainId = (int)domainId, mappings = ToJson(sl) } : null,
            }, CommandSupport.Json));
            return ExitCodes.Success;
        }

        StringBuilder text = new();
        text.Append(CultureInfo.InvariantCulture, $"EPT of {name} ({domain}): EPTP 0x{eptp:x16} (PML4 0x{eptp & EptEntry.AddressMask(PhysicalAddressBits):x}, 4-level walk, WB)\n");
        text.Append(CultureInfo.InvariantCulture, $"table pages in use (all domains and devices): {memory.AllocatedFrameCount}\n");
        AppendRuns(text, ept, secondLevel: false);
        if (hasSl)
        {
            text.Append(CultureInfo.InvariantCulture, $"VT-d second-level table of {name}: root 0x{slRoot:x}, domain id {domainId}, devices ");
            text.Append(string.Join(", ", devices.AsSpan(0, deviceCount).ToArray())).Append('\n');
            AppendRuns(text, sl, secondLevel: true);
        }

        console.Out.Write(text.ToString());
        return ExitCodes.Success;
    }

    /// <summary>One run of leaf entries: contiguous guest and host ranges with the same page size, rights and type.</summary>
    internal sealed record Run(ulong Gpa, ulong Hpa, ulong PageSize, int Pages, ulong Rights, int MemoryType, ulong FirstEntry);

    /// <summary>Hands every live domain's final state to the backend as if each had just been created.</summary>
    internal static bool TryBuild(ScenarioSession session, VtxBackend backend, out BackendRefusal refusal)
    {
        List<Update> updates = [];
        DeviceId[] devices = new DeviceId[Math.Max(session.Engine.Capacities.Devices, 1)];
        foreach (DomainHandle live in session.LiveDomains())
        {
            if (session.Engine.TryGetDomainInfo(live, out DomainInfo info) != CapabilityError.Ok)
            {
                continue;
            }

            updates.Add(new Update(UpdateKind.CreateDomain, live));
            updates.Add(new Update(UpdateKind.PermissionUpdate, live, coreMap: info.CoreMap));
            int count = session.Engine.GetDevices(live, devices);
            for (int i = 0; i < count; i++)
            {
                updates.Add(new Update(UpdateKind.DeviceUpdate, live, device: devices[i]));
            }
        }

        CapabilityEngineView view = new(session.Engine);
        MonitorActionList actions = new();
        if (!backend.TryAdmit(view, updates.ToArray(), out refusal) || !backend.TryApply(view, updates.ToArray(), actions, out refusal))
        {
            backend.Rollback();
            return false;
        }

        backend.Commit();
        return true;
    }

    /// <summary>Walks a 4-level table (EPT or VT-d second level) and collects its leaves as runs.</summary>
    internal static void Walk(ITableMemory memory, ulong table, int level, ulong baseAddress, List<Run> runs, bool secondLevel)
    {
        ulong permissionMask = secondLevel ? SecondLevelEntry.PermissionMask | SecondLevelEntry.Execute : EptEntry.PermissionMask;
        ulong largePage = secondLevel ? SecondLevelEntry.PageSize : EptEntry.LargePage;
        int shift = EptEntry.AddressShift + ((level - 1) * PagingLevels.BitsPerLevel);
        for (int i = 0; i < PagingLevels.EntriesPerTable; i++)
        {
            ulong entry = memory.ReadEntry(table + ((ulong)i * PagingLevels.EntrySize));
            if ((entry & permissionMask) == 0)
            {
                continue;
            }

            ulong address = baseAddress + ((ulong)i << shift);
            ulong target = entry & EptEntry.AddressMask(PhysicalAddressBits);
            bool leaf = level == 1 || (level <= 3 && (entry & largePage) != 0);
            if (!leaf)
            {
                Walk(memory, target, level - 1, address, runs, secondLevel);
                continue;
            }

            ulong size = 1UL << shift;
            ulong rights = entry & permissionMask;
            int type = secondLevel ? 0 : (int)((entry & EptEntry.MemoryTypeMask) >> EptEntry.MemoryTypeShift);
            if (runs.Count > 0 && runs[^1] is { } last && last.PageSize == size && last.Rights == rights && last.MemoryType == type
                && last.Gpa + ((ulong)last.Pages * size) == address && last.Hpa + ((ulong)last.Pages * size) == (target & ~(size - 1)))
            {
                runs[^1] = last with { Pages = last.Pages + 1 };
            }
            else
            {
                runs.Add(new Run(address, target & ~(size - 1), size, 1, rights, type, entry));
            }
        }
    }

    private static void AppendRuns(StringBuilder text, List<Run> runs, bool secondLevel)
    {
        text.Append(CultureInfo.InvariantCulture, $"  {"guest-physical range",-42}  {"host-physical",-18}  {"pages",-10}  {"RWX",-3}  {"type",-4}  first entry\n");
        foreach (Run run in runs)
        {
            ulong end = run.Gpa + ((ulong)run.Pages * run.PageSize);
            string rights = string.Concat((run.Rights & EptEntry.Read) != 0 ? "R" : "-", (run.Rights & EptEntry.Write) != 0 ? "W" : "-",
                (run.Rights & EptEntry.Execute) != 0 ? "X" : "-");
            string type = secondLevel ? "-" : ((EptMemoryType)run.MemoryType).ToString();
            text.Append(CultureInfo.InvariantCulture,
                $"  [0x{run.Gpa:x16}, 0x{end:x16})  0x{run.Hpa:x16}  {run.Pages + " x " + Rendering.MemoryMapTable.Size(run.PageSize),-10}  {rights,-3}  {type,-4}  0x{run.FirstEntry:x16}\n");
        }

        if (runs.Count == 0)
        {
            text.Append("  (no mappings)\n");
        }
    }

    private static IEnumerable<object> ToJson(List<Run> runs)
    {
        foreach (Run run in runs)
        {
            yield return new
            {
                gpa = Hex(run.Gpa),
                end = Hex(run.Gpa + ((ulong)run.Pages * run.PageSize)),
                hpa = Hex(run.Hpa),
                pageSize = run.PageSize,
                pages = run.Pages,
                read = (run.Rights & EptEntry.Read) != 0,
                write = (run.Rights & EptEntry.Write) != 0,
                execute = (run.Rights & EptEntry.Execute) != 0,
                memoryType = run.MemoryType,
                firstEntry = Hex(run.FirstEntry),
            };
        }
    }

    private static string Hex(ulong value) => string.Create(CultureInfo.InvariantCulture, $"0x{value:x}");
}
