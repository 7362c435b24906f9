/// A client engine of the reference system, plus this project's own Linux engine.
public enum Engine: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  case cio = "CIO"
  case okHttp = "OkHttp"
  case java = "Java"
  case darwin = "Darwin"
  case curl = "Curl"
  case winHttp = "WinHttp"
  case js = "Js"
  case android = "Android"
  case apache = "Apache"
  case apache5 = "Apache5"
  case jetty = "Jetty"
  case darwinLegacy = "DarwinLegacy"
  /// This project's CIO-style engine on Linux (`LinuxEngine`): epoll, OpenSSL, zlib.
  case wispLinux = "WispLinux"

  /// The engine's name as Ktor spells it.
  public var description: String { rawValue }
}
