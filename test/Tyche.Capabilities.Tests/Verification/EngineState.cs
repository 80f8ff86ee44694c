// SPDX-License-Identifier: Apache-2.0
using System;
using System.Reflection;

namespace Tyche.Capabilities.Tests.Verification;

/// <summary>Everything a failed operation must leave untouched: the engine's complete textual dump and its free capacities.</summary>
internal readonly record struct EngineState(string Dump, FreeCapacity Free, int Pending)
{
    private static readonly Func<CapabilityEngine, string> DumpMethod = CreateDump();

    public static EngineState Capture(CapabilityEngine engine) => new(DumpOf(engine), engine.GetFreeCapacity(), engine.PendingUpdateCount);

    /// <summary>The engine's internal <c>DumpState()</c> (all pools, free lists, generations, trackers, trees, tables, queue).</summary>
    public static string DumpOf(CapabilityEngine engine) => DumpMethod(engine);

    private static Func<CapabilityEngine, string> CreateDump()
    {
        MethodInfo? method = typeof(CapabilityEngine).GetMethod("DumpState", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes);
        if (method is null || method.ReturnType != typeof(string))
        {
            return _ => throw new InvalidOperationException("CapabilityEngine.DumpState() (internal, string) is missing: the atomicity checks need it.");
        }

        return method.CreateDelegate<Func<CapabilityEngine, string>>();
    }
}
