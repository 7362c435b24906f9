/// A Kotlin Multiplatform target of the reference system (Ktor 3.x). `iosX64` is the iOS simulator on Intel Macs.
public enum Target: String, CaseIterable, Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The JVM.
  case jvm
  /// Android (the JVM on Android).
  case android
  /// JavaScript in a browser.
  case jsBrowser = "js-browser"
  /// JavaScript on Node.js.
  case jsNode = "js-node"
  /// WebAssembly with the JS host.
  case wasmJs
  /// The iOS simulator on Intel Macs (the modelled target).
  case iosX64
  /// iOS devices.
  case iosArm64
  /// The iOS simulator on Apple silicon.
  case iosSimulatorArm64
  /// macOS on Intel.
  case macosX64
  /// macOS on Apple silicon.
  case macosArm64
  /// tvOS.
  case tvos
  /// watchOS.
  case watchos
  /// Linux on x86-64 (Kotlin/Native).
  case linuxX64
  /// Linux on ARM64 (Kotlin/Native).
  case linuxArm64
  /// Windows (MinGW, Kotlin/Native).
  case mingwX64
  /// Android native (Kotlin/Native).
  case androidNative

  /// The name Kotlin uses (`iosX64`, `js-browser`).
  public var description: String { rawValue }

  /// Targets order as declared (JVM first, Apple in the middle, native last).
  public static func < (lhs: Target, rhs: Target) -> Bool {
    allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
  }

  /// Apple targets (iOS, macOS, tvOS, watchOS; simulators included).
  public var isApple: Bool {
    switch self {
    case .iosX64, .iosArm64, .iosSimulatorArm64, .macosX64, .macosArm64, .tvos, .watchos: true
    default: false
    }
  }

  /// Kotlin/Native targets (Apple, Linux, Windows, Android native): no JVM, no JavaScript runtime.
  public var isNative: Bool {
    switch self {
    case .jvm, .android, .jsBrowser, .jsNode, .wasmJs: false
    default: true
    }
  }

  /// JavaScript and Wasm targets.
  public var isJavaScript: Bool { self == .jsBrowser || self == .jsNode || self == .wasmJs }
}
