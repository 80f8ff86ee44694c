// SPDX-License-Identifier: Apache-2.0
using Tyche.Backends.Pmp.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Tyche.Backends.Pmp.Tests.Qemu;

/// <summary>The CI rule: a missing external tool fails under CI=true and skips loudly elsewhere.</summary>
public sealed class ExternalToolTests(ITestOutputHelper output)
{
    [Fact]
    public void A_missing_tool_fails_in_ci_and_skips_loudly_outside()
    {
        FailException failure = Assert.Throws<FailException>(() => ExternalTool.Require("tyche-no-such-tool", output, isCi: true));
        Assert.Contains("tyche-no-such-tool is not installed", failure.Message, System.StringComparison.Ordinal);
        Assert.Null(ExternalTool.Require("tyche-no-such-tool", output, isCi: false));
        Assert.NotNull(ExternalTool.Find("sh") ?? ExternalTool.Find("bash"));
    }
}
