import Glibc

/// The process environment as a dictionary (`environ`), without Foundation.
enum ProcessEnvironment {
  /// Every `NAME=value` of the environment now; the first of a repeated name wins.
  static func current() -> [String: String] {
    var result: [String: String] = [:]
    var cursor = environ
    while let entry = cursor.pointee {
      let text = String(cString: entry)
      if let equals = text.firstIndex(of: "="), result[String(text[..<equals])] == nil {
        result[String(text[..<equals])] = String(text[text.index(after: equals)...])
      }
      cursor += 1
    }
    return result
  }
}
