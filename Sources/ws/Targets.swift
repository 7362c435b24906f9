import ArgumentParser
import Wisp

/// `ws targets`: which client engine to use on a target of the reference system for what an application needs,
/// what to add to a build, and why the other engines fall short (the target model's `BundleChooser`).
struct Targets: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Choose a client engine for a target: what to add to a build, and why the others fall short.",
    discussion: """
      --needs takes a comma-separated list of: raw, wss, extensions, ping, max-frame-size, headers, \
      bounded-incoming, fragments. Example: ws targets --target iosX64 --needs raw,wss
      """)

  @Option(help: "The target (iosX64, jvm, js-browser, linuxX64...).")
  var target: String

  @Option(help: "What the application needs, comma-separated.")
  var needs: String = ""

  func validate() throws {
    guard Target(rawValue: target) != nil else {
      throw ValidationError(
        "unknown target \(target); one of: \(Target.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    for word in words where Capability(word: word) == nil {
      throw ValidationError("unknown need \(word)")
    }
  }

  private var words: [String] { needs.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty } }

  func run() throws {
    let target = Target(rawValue: target)!
    let capabilities = Set(words.compactMap(Capability.init(word:)))
    Console.out(BundleChooser.choose(target: target, requiring: capabilities).report)
  }
}

extension String {
  /// Without leading and trailing spaces.
  fileprivate func trimmingSpaces() -> String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}
