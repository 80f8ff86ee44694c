// SPDX-License-Identifier: Apache-2.0
using Microsoft.Extensions.DependencyInjection;

namespace Tyche.Capabilities;

/// <summary>
/// Returned by <see cref="TycheServiceCollectionExtensions.AddTyche(IServiceCollection, System.Action{TycheOptions})"/>: the
/// packages of Tyche for .NET add their parts (isolation backends, physical memory, roots of trust) as extension methods on it.
/// </summary>
public interface ITycheBuilder
{
    /// <summary>The service collection Tyche registers into.</summary>
    IServiceCollection Services { get; }
}
