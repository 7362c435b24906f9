/// The whole matrix as JSON, for tools: `wisp-target-docs --format json`. The schema is versioned
/// (``schemaVersion``) and documented in `docs/target-model-schema.md`; a test keeps the committed
/// `docs/target-model.json` in step with the data.
///
/// Top level: `schemaVersion`, `referenceSystem`, `targets` (name, apple), `capabilities` (name, title, rule,
/// droppedSilently), `engines` (name, artifact, targets, webSocketSource), `cells` (engine, target, capability —
/// `available` for the engine on the target — supported, reason, rule when not supported, source {kind, reference,
/// url}), `exclusionLists` (name, engines).
public enum TargetModelJSON {
  /// The schema's version: 1. Adding fields keeps it; renaming or removing one, or changing a meaning, raises it.
  public static let schemaVersion = 1

  /// The document, pretty-printed with two-space indentation and a final newline.
  public static func document() -> String {
    var cells: [JSON] = []
    for engine in Engine.allCases {
      for target in Target.allCases {
        let available = CompatibilityMatrix.availability(of: engine, on: target)
        cells.append(
          cell(
            engine, target, "available", available, rule: "engine-unavailable",
            source: CompatibilityMatrix.availabilitySource(of: engine)))
        guard available.isSupported else { continue }
        for capability in Capability.allCases {
          cells.append(
            cell(
              engine, target, capability.rawValue, CompatibilityMatrix.cell(engine, target, capability),
              rule: Rules.identifier(capability), source: CompatibilityMatrix.source(engine, target, capability)))
        }
      }
    }
    let root: JSON = .object([
      ("schemaVersion", .number(schemaVersion)),
      ("referenceSystem", .string("Ktor 3.x")),
      (
        "targets",
        .array(Target.allCases.map { .object([("name", .string($0.rawValue)), ("apple", .bool($0.isApple))]) })
      ),
      (
        "capabilities",
        .array(
          Capability.allCases.map {
            .object([
              ("name", .string($0.rawValue)), ("title", .string($0.description)),
              ("rule", .string(Rules.identifier($0))), ("droppedSilently", .bool($0.isDroppedSilently)),
            ])
          })
      ),
      (
        "engines",
        .array(
          Engine.allCases.map { engine in
            .object([
              ("name", .string(engine.rawValue)), ("artifact", .string(engine.artifact)),
              (
                "targets",
                .array(
                  Target.allCases.filter { CompatibilityMatrix.availability(of: engine, on: $0).isSupported }
                    .map { .string($0.rawValue) })
              ),
              ("webSocketSource", source(CompatibilityMatrix.webSocketSource(of: engine))),
            ])
          })
      ),
      ("cells", .array(cells)),
      (
        "exclusionLists",
        .array(
          TargetMatrix.exclusionLists().map { list in
            .object([
              ("name", .string(list.name)),
              ("engines", .array(Engine.allCases.filter(list.engines.contains).map { .string($0.rawValue) })),
            ])
          })
      ),
    ])
    return root.rendered(indent: 0) + "\n"
  }

  private static func cell(
    _ engine: Engine, _ target: Target, _ capability: String, _ cell: Cell, rule: String, source: FactSource
  ) -> JSON {
    var fields: [(String, JSON)] = [
      ("engine", .string(engine.rawValue)), ("target", .string(target.rawValue)), ("capability", .string(capability)),
      ("supported", .bool(cell.isSupported)), ("reason", .string(cell.reason)),
    ]
    if !cell.isSupported { fields.append(("rule", .string(rule))) }
    fields.append(("source", self.source(source)))
    return .object(fields)
  }

  private static func source(_ source: FactSource) -> JSON {
    .object([
      ("kind", .string(source.kind.rawValue)), ("reference", .string(source.reference)), ("url", .string(source.url)),
    ])
  }
}

/// A JSON value with ordered object fields, rendered without Foundation.
enum JSON {
  case string(String)
  case number(Int)
  case bool(Bool)
  case array([JSON])
  case object([(String, JSON)])

  func rendered(indent: Int) -> String {
    let pad = String(repeating: "  ", count: indent)
    let inner = String(repeating: "  ", count: indent + 1)
    switch self {
    case .string(let text): return Self.quoted(text)
    case .number(let value): return String(value)
    case .bool(let value): return value ? "true" : "false"
    case .array(let items):
      if items.isEmpty { return "[]" }
      // Arrays of scalars on one line; of objects, one per line.
      if items.allSatisfy({ if case .object = $0 { false } else { true } }) {
        return "[" + items.map { $0.rendered(indent: indent + 1) }.joined(separator: ", ") + "]"
      }
      return "[\n" + items.map { inner + $0.rendered(indent: indent + 1) }.joined(separator: ",\n") + "\n" + pad + "]"
    case .object(let fields):
      if fields.isEmpty { return "{}" }
      return "{\n"
        + fields.map { inner + Self.quoted($0.0) + ": " + $0.1.rendered(indent: indent + 1) }.joined(separator: ",\n")
        + "\n" + pad + "}"
    }
  }

  static func quoted(_ text: String) -> String {
    var output = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": output += "\\\""
      case "\\": output += "\\\\"
      case "\n": output += "\\n"
      case "\r": output += "\\r"
      case "\t": output += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          output.unicodeScalars.append(scalar)
        }
      }
    }
    return output + "\""
  }
}
