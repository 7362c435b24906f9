import Foundation
import Testing

/// The public surface of the library's modules, listed in `docs/api.md` so that a change to it shows in review:
/// every `public` or `open` declaration with the type it belongs to. The engine's internals are `package`
/// (reachable by the package's own targets and tests, not by users), so they are not listed.
///
/// When this test fails, the list and the sources differ: regenerate it with `scripts/api-surface` (which runs this
/// test with `WISP_UPDATE_API=1`) and read the diff of `docs/api.md` before committing it.
@Suite("Public API surface")
struct APISurfaceTests {
  /// The library's modules (the `Wisp` product), by source folder.
  static let modules: [(name: String, folder: String)] = [
    ("WispCommon", "Sources/Common"), ("WispLinuxPlatform", "Sources/LinuxPlatform"),
    ("WispSimulatorTargetModel", "Sources/SimulatorTargetModel"), ("Wisp", "Sources/Wisp"),
  ]

  static var root: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  @Test("docs/api.md lists exactly the public declarations of the library's modules")
  func surfaceIsListed() throws {
    let generated = try Self.generate()
    let listFile = Self.root.appendingPathComponent("docs/api.md")
    if ProcessInfo.processInfo.environment["WISP_UPDATE_API"] == "1" {
      try generated.write(to: listFile, atomically: true, encoding: .utf8)
    }
    let listed = (try? String(contentsOf: listFile, encoding: .utf8)) ?? ""
    if listed != generated {
      let old = Set(listed.split(separator: "\n"))
      let new = Set(generated.split(separator: "\n"))
      let added = new.subtracting(old).sorted().prefix(20).joined(separator: "\n")
      let removed = old.subtracting(new).sorted().prefix(20).joined(separator: "\n")
      Issue.record(
        "docs/api.md is out of date: run scripts/api-surface and review the diff.\nAdded:\n\(added)\nRemoved:\n\(removed)"
      )
    }
  }

  @Test("the engine's internals are not public")
  func internalsAreNotPublic() throws {
    let generated = try Self.generate()
    for name in [
      "ConnectionStateMachine", "FrameDecoder", "FrameEncoder", "PayloadBufferPool", "LargeBufferRecycler", "SHA1",
      "Base64", "UTF8Validator", "HTTPHeadParser", "SessionPolicy", "PingTracker", "MaskingKeyGenerator",
    ] {
      #expect(!generated.contains("`\(name)`"), "\(name) is public")
      #expect(!generated.contains("struct \(name)") && !generated.contains("enum \(name)"), "\(name) is public")
    }
  }

  /// The Markdown list: a section per module, a line per declaration (`Scope` then the declaration).
  static func generate() throws -> String {
    var output = """
      # The public API

      Generated from the sources by `scripts/api-surface` and checked by `APISurfaceTests` (a change to the public
      surface fails the tests until this file is regenerated, so that it shows in review). Every `public` or `open`
      declaration of the modules of the `Wisp` product, in source order, with the type or extension it belongs to.
      The engine's internals are `package`: the package's own targets and tests use them, users cannot.

      """
    for module in modules {
      let folder = root.appendingPathComponent(module.folder)
      guard
        let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)
      else { continue }
      let files = enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        .map { String($0.path.dropFirst(folder.path.count + 1)) }.sorted()
      var lines: [String] = []
      for file in files {
        let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        let declarations = publicDeclarations(in: text)
        guard !declarations.isEmpty else { continue }
        lines.append("")
        lines.append("### \(file)")
        lines.append("")
        lines.append(contentsOf: declarations.map { "- `\($0.scope)` `\($0.declaration)`" })
      }
      let count = lines.filter { $0.hasPrefix("- ") }.count
      output += "\n## \(module.name) (\(count) declarations)\n" + lines.joined(separator: "\n") + "\n"
    }
    return output
  }

  /// The `public`/`open` declarations of a Swift source, each with its enclosing type path (`-` at top level).
  /// A small scanner, not a parser: it skips comments and string literals and follows braces, which the project's
  /// formatted sources make reliable.
  static func publicDeclarations(in text: String) -> [(scope: String, declaration: String)] {
    var result: [(scope: String, declaration: String)] = []
    var scopes: [(name: String, depth: Int)] = []
    var depth = 0
    var inMultilineString = false
    var pending: String?
    let typePattern = try! Regex(#"\b(struct|class|enum|actor|protocol|extension)\s+([A-Za-z_][A-Za-z0-9_.]*)"#)
    let publicPattern = try! Regex(#"^(@[A-Za-z_]+(\([^)]*\))?\s+)*(public|open)(\([a-z]+\))?\s"#)
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
      var line = String(rawLine)
      if line.components(separatedBy: "\"\"\"").count % 2 == 0 { inMultilineString.toggle() }
      if inMultilineString || line.contains("\"\"\"") { continue }
      // Comments and string contents out, for the braces and the balance; the declaration keeps its strings.
      if let comment = line.range(of: "//"), !line[..<comment.lowerBound].contains("\"") {
        line = String(line[..<comment.lowerBound])
      }
      let code = line.replacing(try! Regex(#""([^"\\]|\\.)*""#), with: "\"\"")
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if var signature = pending {
        signature += " " + trimmed
        pending = balanced(signature) ? nil : signature
        if pending == nil { result[result.count - 1].declaration = clean(signature) }
      } else if trimmed.firstMatch(of: publicPattern) != nil {
        let scope = scopes.map(\.name).joined(separator: ".")
        result.append((scope.isEmpty ? "-" : scope, clean(trimmed)))
        if !balanced(code) { pending = trimmed }
      }
      if let match = code.firstMatch(of: typePattern), code.contains("{") {
        let name = String(match.output[2].substring ?? "")
        scopes.append((name, depth))
      }
      depth += code.filter { $0 == "{" }.count - code.filter { $0 == "}" }.count
      while let last = scopes.last, last.depth >= depth { scopes.removeLast() }
    }
    return result
  }

  /// Whether the parentheses and brackets of a declaration are closed.
  static func balanced(_ text: String) -> Bool {
    text.filter { $0 == "(" || $0 == "[" }.count <= text.filter { $0 == ")" || $0 == "]" }.count
  }

  /// The declaration without the brace that opens its body, whitespace collapsed.
  static func clean(_ text: String) -> String {
    var declaration = text.trimmingCharacters(in: .whitespaces)
    if declaration.hasSuffix("{") { declaration.removeLast() }
    return declaration.split(whereSeparator: \.isWhitespace).joined(separator: " ").replacingOccurrences(
      of: "`", with: "'")
  }
}
