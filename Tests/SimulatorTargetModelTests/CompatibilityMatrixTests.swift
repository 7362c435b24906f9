import Testing
import WispCommon
import WispLinuxPlatform
import WispSimulatorTargetModel

@Suite("Target model: the compatibility matrix")
struct CompatibilityMatrixTests {
  @Test("every cell of engine x target x capability is explicit: a verdict and a reason")
  func everyCellExplicit() {
    var cells = 0
    for engine in Engine.allCases {
      for target in Target.allCases {
        for capability in Capability.allCases {
          let cell = CompatibilityMatrix.cell(engine, target, capability)
          #expect(cell.reason.count > 10, "\(engine) \(target) \(capability): \"\(cell.reason)\"")
          cells += 1
        }
      }
    }
    #expect(cells == Engine.allCases.count * 16 * 9)
  }

  @Test("the facts of the reference system for iosX64")
  func iosX64Facts() {
    let engines = Engine.allCases.filter { CompatibilityMatrix.availability(of: $0, on: .iosX64).isSupported }
    #expect(Set(engines) == [.cio, .darwin, .darwinLegacy])
    #expect(CompatibilityMatrix.cell(.cio, .iosX64, .webSocket).isSupported)
    #expect(CompatibilityMatrix.cell(.cio, .iosX64, .extensions).isSupported)
    #expect(!CompatibilityMatrix.cell(.cio, .iosX64, .tls).isSupported, "CIO gives ws:// only on native")
    #expect(!CompatibilityMatrix.cell(.cio, .iosX64, .rawSessions).isSupported, "raw builders are JVM-only")
    #expect(CompatibilityMatrix.cell(.darwin, .iosX64, .tls).isSupported)
    #expect(!CompatibilityMatrix.cell(.darwin, .iosX64, .extensions).isSupported)
    #expect(!CompatibilityMatrix.cell(.darwin, .iosX64, .fragmentDelivery).isSupported, "whole messages only")
    #expect(!CompatibilityMatrix.cell(.darwinLegacy, .iosX64, .webSocket).isSupported)
    #expect(CompatibilityMatrix.cell(.cio, .jvm, .rawSessions).isSupported)
    #expect(CompatibilityMatrix.cell(.cio, .jvm, .tls).isSupported)
  }

  @Test("the Linux row equals the Linux engine's declared capabilities (one source of truth)")
  func linuxRow() {
    #expect(LinuxEngine().capabilities == CompatibilityMatrix.engineCapabilities(.wispLinux, on: .linuxX64))
    #expect(LinuxEngine().capabilities == [.webSocket, .webSocketExtensions, .rawWebSocket, .tls])
    for capability in Capability.allCases {
      #expect(CompatibilityMatrix.cell(.wispLinux, .linuxX64, capability).isSupported, "\(capability)")
    }
    #expect(!CompatibilityMatrix.availability(of: .wispLinux, on: .iosX64).isSupported)
  }
}

@Suite("Target model: rules")
struct RulesTests {
  /// For every capability, a (target, engine) that passes and one that fails.
  static let cases: [(Capability, pass: (Target, Engine), fail: (Target, Engine))] = [
    (.webSocket, (.iosX64, .darwin), (.iosX64, .darwinLegacy)),
    (.extensions, (.iosX64, .cio), (.iosX64, .darwin)),
    (.rawSessions, (.jvm, .cio), (.iosX64, .cio)),
    (.tls, (.iosX64, .darwin), (.iosX64, .cio)),
    (.pingInterval, (.iosX64, .darwin), (.jsBrowser, .js)),
    (.maxFrameSize, (.iosX64, .darwin), (.android, .okHttp)),
    (.customHeaders, (.jsNode, .js), (.jsBrowser, .js)),
    (.boundedSuspendingIncoming, (.macosArm64, .darwin), (.macosArm64, .curl)),
    (.fragmentDelivery, (.jvm, .java), (.iosX64, .darwin)),
  ]

  @Test("every rule has a passing and a failing case", arguments: 0..<9)
  func passAndFail(index: Int) {
    let (capability, pass, fail) = Self.cases[index]
    #expect(Rules.violations(target: pass.0, engine: pass.1, usage: Usage([capability])).isEmpty)
    let violations = Rules.violations(target: fail.0, engine: fail.1, usage: Usage([capability]))
    #expect(violations.map(\.id) == [Rules.identifier(capability)], "\(capability) on \(fail)")
  }

  @Test("the raw-session rule says why, in a sentence")
  func rawMessage() {
    let violations = Rules.violations(target: .iosX64, engine: .darwin, usage: Usage([.rawSessions]))
    #expect(
      violations.first?.message
        == "raw WebSocket sessions are available only with the CIO engine on the JVM; not with Darwin on iosX64")
    let elsewhere = Rules.violations(target: .iosX64, engine: .okHttp, usage: Usage())
    #expect(elsewhere.map(\.id) == ["engine-unavailable"])
  }

  @Test("the bundle chooser ranks engines and says why the others fall short")
  func chooser() {
    let any = BundleChooser.choose(target: .iosX64, requiring: [.webSocket])
    #expect(any.recommended == [.cio, .darwin])
    let secure = BundleChooser.choose(target: .iosX64, requiring: [.tls])
    #expect(secure.recommended == [.darwin])
    #expect(secure.rejected[.cio]?.map(\.id) == ["wss-unavailable"])
    #expect(BundleChooser.choose(target: .iosX64, requiring: [.tls, .extensions]).recommended.isEmpty)
    let linux = BundleChooser.choose(target: .linuxX64, requiring: [.rawSessions, .tls])
    #expect(linux.recommended == [.wispLinux])
    #expect(linux.rejected[.cio]?.first?.id == "raw-sessions-unavailable")
  }
}
