/// A client engine of the reference system, plus this project's own Linux engine.
public enum Engine: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  /// Ktor's coroutine-based engine (`ktor-client-cio`): JVM, Android, native; the only one with raw sessions.
  case cio = "CIO"
  /// OkHttp (`ktor-client-okhttp`): JVM and Android.
  case okHttp = "OkHttp"
  /// The JDK's HTTP client (`ktor-client-java`): JVM.
  case java = "Java"
  /// NSURLSession (`ktor-client-darwin`): Apple targets.
  case darwin = "Darwin"
  /// libcurl (`ktor-client-curl`): desktop native targets.
  case curl = "Curl"
  /// WinHTTP (`ktor-client-winhttp`): Windows.
  case winHttp = "WinHttp"
  /// The browser's or Node's WebSocket (`ktor-client-js`): JS and Wasm targets.
  case js = "Js"
  /// Android's HttpURLConnection (`ktor-client-android`): no WebSockets.
  case android = "Android"
  /// Apache HttpClient 4 (`ktor-client-apache`): no WebSockets.
  case apache = "Apache"
  /// Apache HttpClient 5 (`ktor-client-apache5`): no WebSockets.
  case apache5 = "Apache5"
  /// Jetty (`ktor-client-jetty-jakarta`): no WebSockets.
  case jetty = "Jetty"
  /// NSURLSession without the WebSocket task (`ktor-client-darwin-legacy`): no WebSockets.
  case darwinLegacy = "DarwinLegacy"
  /// This project's CIO-style engine on Linux (`LinuxEngine`): epoll, OpenSSL, zlib.
  case wispLinux = "WispLinux"

  /// The engine's name as Ktor spells it.
  public var description: String { rawValue }
}
