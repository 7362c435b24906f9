/// A Kotlin Multiplatform target of the reference system (Ktor 3.x). `iosX64` is the iOS simulator on Intel Macs.
public enum Target: String, CaseIterable, Sendable, Hashable, Comparable, CustomStringConvertible {
  case jvm
  case android
  case jsBrowser = "js-browser"
  case jsNode = "js-node"
  case wasmJs
  case iosX64
  case iosArm64
  case iosSimulatorArm64
  case macosX64
  case macosArm64
  case tvos
  case watchos
  case linuxX64
  case linuxArm64
  case mingwX64
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
