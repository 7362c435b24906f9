import ArgumentParser
import Wisp

/// `ws autobahn-client`: the client driver that conformance fuzzing servers (the Autobahn testsuite's
/// `fuzzingserver`) expect.
struct AutobahnClient: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "autobahn-client",
    abstract: "Run the conformance cases of a fuzzing server: echo every message of each case.",
    discussion: """
      Reads /getCaseCount, then for each case connects to /runCase?case=N&agent=AGENT and echoes every text and \
      binary message as the same type until the server closes, then asks /updateReports?agent=AGENT to write the \
      report. `ws serve --echo` is the server side of the same suites.
      """)

  @Option(help: "The fuzzing server's base URL.")
  var url = "ws://127.0.0.1:9001"

  @Option(help: "The agent name in the report.")
  var agent = "wisp"

  @Flag(help: "Offer permessage-deflate (the 12.x and 13.x cases).")
  var compress = false

  @Option(help: "Cases to run, such as \"1-10,42\" (default: all).")
  var cases: String?

  @Option(name: .customLong("case-timeout"), help: "The most one case may take, in seconds.")
  var caseTimeout = 120.0

  @OptionGroup var output: OutputOptions

  func run() async throws {
    let base = url.hasSuffix("/") ? String(url.dropLast()) : url
    let client = HttpClient(LinuxEngine()) { config in
      config.install(WebSockets.self) { plugin in
        // The suites send messages of up to 16 MiB; leave room.
        plugin.maxFrameSize = 64 * 1024 * 1024
        plugin.maxMessageSize = 64 * 1024 * 1024
        plugin.closeTimeout = .seconds(5)
        if compress { plugin.extensions { $0.install(WebSocketDeflateExtension.self) } }
      }
    }
    let count: Int
    do {
      count = try await client.webSocket("\(base)/getCaseCount") { session in
        Int(try await session.incoming.receive().readText()) ?? 0
      }
    } catch {
      let (status, message) = describeConnectFailure(error)
      Console.error("ws autobahn-client: cannot read the case count: \(message)")
      throw ExitCode(status)
    }
    let selected = try cases.map { try parseCaseList($0, upTo: count) } ?? Array(1...max(1, count))
    output.note("\(count) cases on the server; running \(selected.count)")
    let agent = self.agent
    for number in selected where number <= count {
      let caseURL = "\(base)/runCase?case=\(number)&agent=\(agent)"
      do {
        let reason = try await withDeadline(.milliseconds(Int(caseTimeout * 1000))) {
          try await client.webSocket(caseURL) { session in
            do {
              for try await frame in session.incoming { try await session.send(frame) }
            } catch {
              // The case tests a failure: the session already closed with the RFC's code.
            }
            return await session.closeReason
          }
        }
        output.note("case \(number)/\(count): closed \(reason)")
      } catch {
        output.note("case \(number)/\(count): \(error)")
      }
    }
    do {
      try await client.webSocket("\(base)/updateReports?agent=\(agent)") { session in
        _ = await session.closeReason
      }
      output.note("reports updated for agent \(agent)")
    } catch {
      Console.error("ws autobahn-client: cannot update the reports: \(error)")
      throw ExitCode(ExitStatus.failure)
    }
  }
}

/// Parses "1-10,42" into case numbers (1-based, at most `upTo`).
func parseCaseList(_ text: String, upTo limit: Int) throws -> [Int] {
  var numbers: [Int] = []
  for part in text.split(separator: ",") {
    let bounds = part.split(separator: "-", maxSplits: 1).map { Int($0.trimmingCharacters(in: " ")) }
    guard let first = bounds.first ?? nil, first >= 1 else { throw ValidationError("bad case list \"\(text)\"") }
    let last = bounds.count == 2 ? (bounds[1] ?? 0) : first
    guard last >= first else { throw ValidationError("bad case range \"\(part)\"") }
    numbers += Array(first...min(last, max(first, limit)))
  }
  return numbers
}
