import Glibc
import Testing
import WispSimulatorTargetModel

@Suite("Target model: generated documentation")
struct GeneratedDocsTests {
  @Test("docs/target-model.md is what `swift run wisp-target-docs` generates (regenerate it when this fails)")
  func upToDate() throws {
    let root = String(#filePath.dropLast("Tests/SimulatorTargetModelTests/GeneratedDocsTests.swift".count))
    let file = try #require(fopen(root + "docs/target-model.md", "r"), "docs/target-model.md is missing")
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = fread(&buffer, 1, buffer.count, file)
      if count == 0 { break }
      bytes += buffer[0..<count]
    }
    #expect(String(decoding: bytes, as: UTF8.self) == TargetModelDocs.markdown())
  }
}
