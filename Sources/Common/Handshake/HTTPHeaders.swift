/// HTTP header fields in arrival order, with case-insensitive names (RFC 7230 section 3.2).
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
  /// One header field.
  public struct Field: Sendable, Hashable {
    /// The name as sent.
    public var name: String
    /// The value, without surrounding whitespace.
    public var value: String

    /// Creates a field.
    public init(name: String, value: String) {
      self.name = name
      self.value = value
    }
  }

  /// The fields in order.
  public private(set) var fields: [Field] = []

  /// Creates an empty set of headers.
  public init() {}

  /// Creates headers from literal pairs, in order.
  public init(dictionaryLiteral elements: (String, String)...) {
    fields = elements.map { Field(name: $0.0, value: $0.1) }
  }

  /// The number of fields.
  public var count: Int { fields.count }

  /// Iterates the fields in order.
  public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

  /// Appends a field, keeping existing fields with the same name.
  public mutating func add(name: String, value: String) {
    fields.append(Field(name: name, value: value))
  }

  /// Reserves room for `count` fields, so that headers built at once hold no spare capacity.
  package mutating func reserveCapacity(_ count: Int) {
    fields.reserveCapacity(count)
  }

  /// Replaces every field named `name` with a single one.
  public mutating func set(name: String, value: String) {
    remove(name: name)
    add(name: name, value: value)
  }

  /// Removes every field named `name`.
  public mutating func remove(name: String) {
    fields.removeAll { Self.namesMatch($0.name, name) }
  }

  /// The first value of `name`, or `nil`. Setting it replaces every field named `name` with one (Ktor's
  /// `headers["Authorization"] = "Bearer ..."`); setting `nil` removes them.
  public subscript(name: String) -> String? {
    get { fields.first { Self.namesMatch($0.name, name) }?.value }
    set {
      if let newValue { set(name: name, value: newValue) } else { remove(name: name) }
    }
  }

  /// Every name with its values, in the order the names first appear (Ktor's `headers.entries()`).
  public func entries() -> [(name: String, values: [String])] {
    var order: [String] = []
    var grouped: [String: (name: String, values: [String])] = [:]
    for field in fields {
      let key = field.name.lowercased()
      if grouped[key] == nil {
        order.append(key)
        grouped[key] = (field.name, [])
      }
      grouped[key]?.values.append(field.value)
    }
    return order.compactMap { grouped[$0] }
  }

  /// The distinct names, in the order they first appear (Ktor's `headers.names()`).
  public func names() -> [String] { entries().map(\.name) }

  /// Every value of `name`, in order.
  public func values(name: String) -> [String] {
    fields.filter { Self.namesMatch($0.name, name) }.map(\.value)
  }

  /// `true` when a field named `name` is present.
  public func contains(name: String) -> Bool {
    fields.contains { Self.namesMatch($0.name, name) }
  }

  /// The comma-separated list elements of every `name` field, trimmed, empty elements dropped (RFC 7230 section
  /// 7: "a recipient MUST accept empty list elements").
  public func listElements(name: String) -> [String] {
    values(name: name).flatMap { value in
      value.split(separator: ",").map { HTTPSyntax.trimmingWhitespace($0) }.filter { !$0.isEmpty }
    }
  }

  /// Whether the list of `name` contains `token`, compared case-insensitively (as `Connection: keep-alive,
  /// Upgrade` must match `upgrade`).
  public func listContains(name: String, token: String) -> Bool {
    listElements(name: name).contains { HTTPSyntax.asciiCaseInsensitiveEquals($0, token) }
  }

  /// `"Name: value"` lines, for logs.
  public var description: String {
    fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
  }

  static func namesMatch(_ lhs: String, _ rhs: String) -> Bool {
    HTTPSyntax.asciiCaseInsensitiveEquals(lhs, rhs)
  }
}
