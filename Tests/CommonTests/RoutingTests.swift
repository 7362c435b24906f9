import Testing

@testable import WispCommon

@Suite("Routing: path patterns and query parameters")
struct RoutingTests {
  @Test(
    "patterns match literals, parameters, optional parameters and tails; percent-decoded",
    arguments: [
      ("/chat/{room}", "/chat/lobby", ["room": "lobby"]),
      ("/chat/{room}", "/chat/caf%C3%A9", ["room": "café"]),
      ("/chat/{room}", "/chat", nil),
      ("/chat/{room}", "/chat/a/b", nil),
      ("/files/{path...}", "/files/a/b/c", ["path": "a/b/c"]),
      ("/files/{...}", "/files", [:]),
      ("/user/{id?}", "/user", [:]),
      ("/user/{id?}", "/user/7", ["id": "7"]),
      ("/", "/", [:]),
      ("/", "/x", nil),
      ("/a", "/a/", [:]),
      ("/a/{b}", "/a/%zz", nil),
    ] as [(String, String, [String: String]?)])
  func patterns(pattern: String, path: String, expected: [String: String]?) {
    #expect(PathPattern(pattern).match(path) == expected)
  }

  @Test("query parameters keep order and repeats, decode %XX and +, and skip malformed escapes")
  func query() {
    let parsed = ServerCall.parseQuery("a=1&b=x+y&a=2&c=%E2%9C%93&flag&bad=%G1")
    #expect(parsed.map(\.name) == ["a", "b", "a", "c", "flag"])
    #expect(parsed.map(\.value) == ["1", "x y", "2", "✓", ""])
  }
}
