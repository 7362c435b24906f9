/// Picks engines for a target: those that provide every required capability, best first, and why the others
/// fall short.
public enum BundleChooser {
  /// An engine that satisfies the needs: what to add to a build.
  public struct Recommendation: Sendable, Hashable {
    /// The engine.
    public let engine: Engine
    /// The reference system's artifact (`io.ktor:ktor-client-darwin`), or this project's product.
    public let artifact: String
    /// How this project runs a client as that engine on the target (`EngineProfile` over `LinuxEngine`).
    public let usage: String
    /// Where the engine's facts come from.
    public let source: FactSource
  }

  /// An engine that runs on the target but falls short, with every rule the needs break.
  public struct Shortfall: Sendable, Hashable {
    /// The engine.
    public let engine: Engine
    /// Its artifact.
    public let artifact: String
    /// Why it falls short, one violation per missing capability (each with its rule identifier).
    public let violations: [Violation]
    /// Where each violated fact comes from, in the order of ``violations``.
    public let sources: [FactSource]
  }

  /// The choice for one target.
  public struct Choice: Sendable, Hashable {
    /// The target asked about.
    public let target: Target
    /// The capabilities asked for.
    public let needs: Set<Capability>
    /// Engines that provide everything required, the one providing the most capabilities first.
    public let recommended: [Engine]
    /// The other engines that run on the target, with the rules they break.
    public let rejected: [Engine: [Violation]]

    /// What to add to a build for each recommended engine, best first.
    public var recommendations: [Recommendation] {
      recommended.map {
        Recommendation(
          engine: $0, artifact: $0.artifact, usage: $0.projectUsage(on: target),
          source: CompatibilityMatrix.webSocketSource(of: $0))
      }
    }

    /// Why each other engine falls short, in the order of preference.
    public var shortfalls: [Shortfall] {
      BundleChooser.preference.compactMap { engine in
        rejected[engine].map { all in
          // An engine without WebSockets falls short for that reason alone.
          let violations =
            all.contains { $0.capability == .webSocket } ? all.filter { $0.capability == .webSocket } : all
          return Shortfall(
            engine: engine, artifact: engine.artifact, violations: violations,
            sources: violations.map { CompatibilityMatrix.source(engine, target, $0.capability) })
        }
      }
    }

    /// The answer for a person: the bundles to add, then why each other engine falls short.
    public var report: String {
      let asked = needs.subtracting([.webSocket]).sorted().map(\.description)
      var lines = [
        "\(target), needing WebSockets" + (asked.isEmpty ? "" : " with " + asked.joined(separator: ", ")) + ":"
      ]
      if recommendations.isEmpty {
        lines.append("  no engine provides all of it")
      }
      for (index, recommendation) in recommendations.enumerated() {
        lines.append("  \(index == 0 ? "use" : "or ") \(recommendation.engine): add \(recommendation.artifact)")
        lines.append("      here: \(recommendation.usage)")
      }
      for shortfall in shortfalls {
        lines.append("  not \(shortfall.engine) (\(shortfall.artifact)):")
        for (violation, source) in zip(shortfall.violations, shortfall.sources) {
          lines.append("      [\(violation.id)] \(violation.message) (\(source))")
        }
      }
      return lines.joined(separator: "\n")
    }
  }

  /// The preference between engines that provide the same number of capabilities: the one listed first wins.
  static let preference: [Engine] = [
    .wispLinux, .cio, .darwin, .okHttp, .java, .curl, .winHttp, .js, .android, .apache, .apache5, .jetty, .darwinLegacy,
  ]

  /// Chooses engines for `target` that provide `required`.
  public static func choose(target: Target, requiring required: Set<Capability>) -> Choice {
    let usage = Usage(required)
    var recommended: [Engine] = []
    var rejected: [Engine: [Violation]] = [:]
    for engine in Engine.allCases where CompatibilityMatrix.availability(of: engine, on: target).isSupported {
      let violations = Rules.violations(target: target, engine: engine, usage: usage)
      if violations.isEmpty { recommended.append(engine) } else { rejected[engine] = violations }
    }
    func score(_ engine: Engine) -> Int {
      Capability.allCases.filter { CompatibilityMatrix.cell(engine, target, $0).isSupported }.count
    }
    recommended.sort { lhs, rhs in
      let (left, right) = (score(lhs), score(rhs))
      if left != right { return left > right }
      return preference.firstIndex(of: lhs)! < preference.firstIndex(of: rhs)!
    }
    return Choice(target: target, needs: required, recommended: recommended, rejected: rejected)
  }
}
