import Foundation
import Glibc
import Testing
import WispSimulatorTargetModel

@Suite("Target model: generated documentation")
struct GeneratedDocsTests {
  @Test("docs/target-model.md is what `swift run wisp-target-docs` generates (regenerate it when this fails)")
  func upToDate() throws {
    #expect(try MachineReadableFactsTests.committed("docs/target-model.md") == TargetModelDocs.markdown())
  }
}

/// Issue 21: the JSON and DocC outputs, and the bundle chooser's answers.
@Suite("Target model: machine-readable facts and bundle choice")
struct MachineReadableFactsTests {
  static func committed(_ path: String) throws -> String {
    let root = String(#filePath.dropLast("Tests/SimulatorTargetModelTests/GeneratedDocsTests.swift".count))
    let file = try #require(fopen(root + path, "r"), "\(path) is missing")
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = fread(&buffer, 1, buffer.count, file)
      if count == 0 { break }
      bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  @Test("docs/target-model.json and the DocC article are what wisp-target-docs generates (regenerate when this fails)")
  func outputsInStep() throws {
    #expect(try Self.committed("docs/target-model.json") == TargetModelJSON.document())
    #expect(
      try Self.committed("Sources/SimulatorTargetModel/WispSimulatorTargetModel.docc/CompatibilityFacts.md")
        == TargetModelDocs.doccArticle())
  }

  @Test("the JSON parses, carries its schema version, and has one cell per fact, each with a reason and a source")
  func jsonContent() throws {
    let text = TargetModelJSON.document()
    let root = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(root["schemaVersion"] as? Int == 1)
    let cells = try #require(root["cells"] as? [[String: Any]])
    var expected = Engine.allCases.count * Target.allCases.count
    for engine in Engine.allCases {
      expected += CompatibilityMatrix.targets(of: engine).count * Capability.allCases.count
    }
    #expect(cells.count == expected)
    for cell in cells {
      #expect((cell["reason"] as? String)?.isEmpty == false)
      let source = try #require(cell["source"] as? [String: Any])
      #expect((source["url"] as? String)?.hasPrefix("http") == true || source["kind"] as? String == "project")
      if cell["supported"] as? Bool == false { #expect(cell["rule"] is String) }
    }
    let raw = try #require(
      cells.first {
        $0["engine"] as? String == "Darwin" && $0["target"] as? String == "iosX64"
          && $0["capability"] as? String == "rawSessions"
      })
    #expect(raw["supported"] as? Bool == false)
    #expect(raw["rule"] as? String == "raw-sessions-unavailable")
    let engines = try #require(root["engines"] as? [[String: Any]])
    #expect(
      engines.contains {
        $0["name"] as? String == "Darwin" && $0["artifact"] as? String == "io.ktor:ktor-client-darwin"
      })
  }

  @Test("bundle choice: iosX64 needing raw and wss has no engine, and says why each falls short with its source")
  func bundleChoice() {
    let rawAndSecure = BundleChooser.choose(target: .iosX64, requiring: [.rawSessions, .tls])
    #expect(rawAndSecure.recommendations.isEmpty)
    #expect(rawAndSecure.shortfalls.map(\.engine) == [.cio, .darwin, .darwinLegacy])
    let cio = rawAndSecure.shortfalls[0]
    #expect(cio.violations.map(\.id) == ["raw-sessions-unavailable", "wss-unavailable"])
    #expect(cio.sources[1].reference.hasSuffix("TLS.nonJvm.kt"))
    let secure = BundleChooser.choose(target: .iosX64, requiring: [.tls])
    #expect(secure.recommendations.map(\.artifact) == ["io.ktor:ktor-client-darwin"])
    #expect(secure.recommendations[0].usage.contains("EngineProfile(target: .iosX64, engine: .darwin"))
    let linux = BundleChooser.choose(target: .linuxX64, requiring: [.rawSessions, .tls, .extensions])
    #expect(linux.recommendations.first?.engine == .wispLinux)
    #expect(rawAndSecure.report.contains("[raw-sessions-unavailable]"))
  }
}
