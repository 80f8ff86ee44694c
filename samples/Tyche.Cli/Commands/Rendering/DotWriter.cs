// SPDX-License-Identifier: Apache-2.0
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Tyche.Capabilities;

namespace Tyche.Cli.Rendering;

/// <summary>Graphviz DOT for the domain/capability/derivation graph and for the memory map.</summary>
internal static class DotWriter
{
    /// <summary>
    /// Domains (boxes) with their capability tables (clusters); edges from management, switch and channel capabilities to the
    /// domains they designate, from device capabilities to devices, and from each region capability to the region it was
    /// derived from. The engine does not expose region-tree parents, so a region's parent is taken as the smallest region
    /// capability with children whose range contains it (dashed edges, "derived").
    /// </summary>
    /// <param name="snapshot">The state to draw.</param>
    /// <returns>The DOT text.</returns>
    public static string CapabilityGraph(SystemSnapshot snapshot)
    {
        StringBuilder dot = new();
        dot.Append("digraph tyche_capabilities {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n");
        Dictionary<ulong, string> domainNodeById = [];
        foreach (DomainView domain in snapshot.Domains)
        {
            domainNodeById[domain.Info.Id] = DomainNode(domain.Handle);
        }

        List<(string Node, CapabilityInfo Info)> regions = [];
        HashSet<DeviceId> devices = [];
        foreach (DomainView domain in snapshot.Domains)
        {
            string node = DomainNode(domain.Handle);
            string flags = (domain.Info.IsSealed ? "sealed" : "unsealed") + (domain.Info.IsIo ? ", I/O" : string.Empty);
            dot.Append(CultureInfo.InvariantCulture,
                $"  {node} [shape=box, style=\"rounded,bold\", label=\"{Escape(domain.Name)}\\nid {domain.Info.Id}, {flags}\\ncores 0x{domain.Info.CoreMap:x}\"];\n");
            dot.Append(CultureInfo.InvariantCulture, $"  subgraph cluster_{domain.Handle.Index} {{\n    label=\"{Escape(domain.Name)}'s capabilities\";\n    style=dashed;\n");
            foreach (CapabilityView capability in domain.Capabilities)
            {
                string capabilityNode = CapabilityNode(domain.Handle, capability.Index);
                string shape = capability.Info.Kind is CapabilityKind.Region or CapabilityKind.RegionRevoke ? "note" : "ellipse";
                dot.Append(CultureInfo.InvariantCulture,
                    $"    {capabilityNode} [shape={shape}, label=\"{capability.Index}: {Escape(capability.Info.ToString())}\"];\n");
            }

            dot.Append("  }\n");
            foreach (CapabilityView capability in domain.Capabilities)
            {
                string capabilityNode = CapabilityNode(domain.Handle, capability.Index);
                dot.Append(CultureInfo.InvariantCulture, $"  {node} -> {capabilityNode} [arrowhead=none, color=gray];\n");
                switch (capability.Info.Kind)
                {
                    case CapabilityKind.Management or CapabilityKind.Switch or CapabilityKind.Channel
                        when domainNodeById.TryGetValue(capability.Info.DomainId, out string? target):
                        string verb = capability.Info.Kind switch
                        {
                            CapabilityKind.Management => "manages",
                            CapabilityKind.Switch => "switch",
                            _ => "channel",
                        };
                        dot.Append(CultureInfo.InvariantCulture, $"  {capabilityNode} -> {target} [label=\"{verb}\"];\n");
                        break;
                    case CapabilityKind.Device or CapabilityKind.DeviceRevoke:
                        devices.Add(capability.Info.Device);
                        dot.Append(CultureInfo.InvariantCulture, $"  {capabilityNode} -> {DeviceNode(capability.Info.Device)};\n");
                        break;
                    case CapabilityKind.Region:
                        regions.Add((capabilityNode, capability.Info));
                        break;
                }
            }
        }

        foreach (DeviceId device in devices)
        {
            dot.Append(CultureInfo.InvariantCulture, $"  {DeviceNode(device)} [shape=hexagon, label=\"PCI {device}\"];\n");
        }

        foreach ((string node, CapabilityInfo info) in regions)
        {
            string? parent = null;
            ulong parentSize = ulong.MaxValue;
            foreach ((string candidate, CapabilityInfo other) in regions)
            {
                bool contains = other.Start <= info.Start && info.End <= other.End;
                bool sameRange = other.Start == info.Start && other.End == info.End;
                if (candidate == node || !other.HasChildren || !contains || (sameRange && info.HasChildren))
                {
                    continue; // Not a possible parent (two equal ranges that both have children cannot be ordered).
                }

                if (other.End - other.Start < parentSize)
                {
                    parent = candidate;
                    parentSize = other.End - other.Start;
                }
            }

            if (parent is not null)
            {
                dot.Append(CultureInfo.InvariantCulture, $"  {parent} -> {node} [style=dashed, label=\"derived\"];\n");
            }
        }

        dot.Append("}\n");
        return dot.ToString();
    }

    /// <summary>
    /// Figure 4: domains on the left, memory segments on the right labelled with their range, size and reference count
    /// (green: exclusive, yellow: shared by two, orange: more), one edge per accessor labelled with its rights.
    /// </summary>
    /// <param name="snapshot">The state to draw.</param>
    /// <returns>The DOT text.</returns>
    public static string MemoryMap(SystemSnapshot snapshot)
    {
        StringBuilder dot = new();
        dot.Append("digraph tyche_memory_map {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n");
        dot.Append("  subgraph cluster_domains {\n    label=\"domains\";\n");
        foreach (DomainView domain in snapshot.Domains)
        {
            dot.Append(CultureInfo.InvariantCulture, $"    {DomainNode(domain.Handle)} [shape=box, style=rounded, label=\"{Escape(domain.Name)}\"];\n");
        }

        dot.Append("  }\n  subgraph cluster_memory {\n    label=\"physical memory (reference counts)\";\n");
        for (int i = 0; i < snapshot.Memory.Count; i++)
        {
            MemorySegmentView segment = snapshot.Memory[i];
            string color = segment.ReferenceCount switch
            {
                1 => "palegreen",
                2 => "khaki",
                _ => "orange",
            };
            dot.Append(CultureInfo.InvariantCulture,
                $"    seg{i} [shape=record, style=filled, fillcolor={color}, label=\"{{[0x{segment.Start:x}, 0x{segment.End:x}) | {MemoryMapTable.Size(segment.End - segment.Start)} | refs {segment.ReferenceCount}}}\"];\n");
        }

        dot.Append("  }\n");
        for (int i = 0; i < snapshot.Memory.Count; i++)
        {
            foreach ((DomainHandle domain, MemoryOperations rights) in snapshot.Memory[i].Accessors)
            {
                dot.Append(CultureInfo.InvariantCulture, $"  {DomainNode(domain)} -> seg{i} [label=\"{MemoryOperationsFormat.Rights(rights)}\"];\n");
            }
        }

        dot.Append("}\n");
        return dot.ToString();
    }

    private static string DomainNode(DomainHandle domain) => string.Create(CultureInfo.InvariantCulture, $"d{domain.Index}g{domain.Generation}");

    private static string CapabilityNode(DomainHandle domain, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"c{domain.Index}g{domain.Generation}_{index}");

    private static string DeviceNode(DeviceId device) => string.Create(CultureInfo.InvariantCulture, $"pci{device.GetHashCode():x}");

    private static string Escape(string text) => text.Replace("\\", "\\\\", System.StringComparison.Ordinal).Replace("\"", "\\\"", System.StringComparison.Ordinal);
}
