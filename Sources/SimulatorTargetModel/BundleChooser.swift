/// Picks engines for a target: those that provide every required capability, best first, and why the others
/// fall short.
public enum BundleChooser {
  /// The choice for one target.
  public struct Choice: Sendable, Hashable {
    /// Engines that provide everything required, the one providing the most capabilities first.
    public let recommended: [Engine]
    /// The other engines that run on the target, with the rules they break.
    public let rejected: [Engine: [Violation]]
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
    return Choice(recommended: recommended, rejected: rejected)
  }
}
