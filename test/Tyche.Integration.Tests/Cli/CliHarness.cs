// SPDX-License-Identifier: Apache-2.0
using System.IO;
using Tyche.Cli;

namespace Tyche.Integration.Tests.Cli;

/// <summary>Runs the tyche tool in process with captured streams.</summary>
internal static class CliHarness
{
    public static (int Exit, string Out, string Error) Run(params string[] args) => RunWithInput(string.Empty, args);

    public static (int Exit, string Out, string Error) RunWithInput(string input, params string[] args)
    {
        using StringReader reader = new(input);
        using StringWriter output = new();
        using StringWriter error = new();
        int exit = CliApplication.CreateDefault().Run(args, new CliConsole(reader, output, error));
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>A scenario in the paper's shape: an OS, a SaaS domain with a shared buffer, a GPU I/O domain owning 00:02.0.</summary>
    public const string Scenario = """
        os = create_manager_domain ALL
        start_domain_on_core os 0
        ram = create_root_region os 0x0 0x40000000 RWXS
        gpu_dev = create_root_device os 00:02.0
        m_saas = create_domain os
        saas = get_domain_capa os m_saas
        m_gpu = create_io_domain os
        gpu = get_domain_capa os m_gpu
        send os gpu_dev m_gpu
        mem = carve os ram 0x400000 0x800000 RWX
        send os mem m_saas
        buf = alias os ram 0x200000 0x400000 RW
        send os buf m_gpu
        """;
}
