// SPDX-License-Identifier: Apache-2.0
using BenchmarkDotNet.Running;

namespace Tyche.Benchmarks;

/// <summary>Entry point: <c>dotnet run -c Release --project test/Tyche.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected on the command line.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
