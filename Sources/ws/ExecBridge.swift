import Glibc
import Wisp

/// `ws serve --exec CMD`: one process per connection, wired to the session as websocketd does: each line the
/// command writes to standard output is a text message, each message received is a line on its standard input.
/// The command's standard error is the server's. The command gets the connection in its environment
/// (`REMOTE_ADDR`, `PATH_INFO`, `QUERY_STRING`). It runs under `stdbuf -oL` where coreutils has it, so that programs
/// that buffer a pipe's output (`tr`, `sed`, `grep`) answer line by line.
///
/// The process's standard input and output are one end of a socket pair whose other end the session's event loop
/// serves like any socket: no thread per connection, and the command's pace applies backpressure both ways.
enum ExecBridge {
  /// The longest line taken from the command (1 MiB); a longer one is sent in pieces of that size.
  static let maxLine = 1 << 20

  /// Runs `command` for `session` until either side ends: the command's end closes the session with 1000, the
  /// session's end closes the command's standard input (and stops it after 2 s).
  static func run(_ command: String, for session: DefaultWebSocketServerSession) async throws {
    guard let loop = (session.connection.transport as? SocketTransport)?.loop ?? EventLoopGroup.shared.loops.first
    else { return }
    var pair: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
      try await session.close(CloseReason(.internalError, "cannot start the command"))
      return
    }
    let request = session.call.request
    let environment = [
      "REMOTE_ADDR=\(session.connection.transport.peerDescription)", "PATH_INFO=\(request.path)",
      "QUERY_STRING=\(request.target.split(separator: "?", maxSplits: 1).dropFirst().first ?? "")",
    ]
    let pid = spawn(command, stdio: pair[1], extraEnvironment: environment)
    Glibc.close(pair[1])
    guard let pid else {
      Glibc.close(pair[0])
      try await session.close(CloseReason(.internalError, "cannot start the command"))
      return
    }
    let child: SocketTransport
    do {
      child = try SocketTransport.adopt(connectedSocket: pair[0], on: loop)
    } catch {
      kill(pid, SIGKILL)
      _ = await reap(pid)
      throw error
    }
    // The command's output, line by line, to the session; its end closes the session.
    let fromCommand = Task(executorPreference: loop) {
      var pending: [UInt8] = []
      while true {
        let lines: [[UInt8]]? = try await child.read { bytes in
          guard bytes.count > 0 else { return nil }
          pending.append(contentsOf: bytes)
          var lines: [[UInt8]] = []
          while let newline = pending.firstIndex(of: 10) {
            var line = Array(pending[..<newline])
            if line.last == 13 { line.removeLast() }
            lines.append(line)
            pending.removeSubrange(...newline)
          }
          while pending.count >= maxLine {
            lines.append(Array(pending.prefix(maxLine)))
            pending.removeFirst(maxLine)
          }
          return lines
        }
        guard let lines else { break }
        for line in lines { try await session.send(.text(String(decoding: line, as: UTF8.self))) }
      }
      if !pending.isEmpty { try await session.send(.text(String(decoding: pending, as: UTF8.self))) }
      _ = try? await session.close(CloseReason(.normal))
    }
    // The session's messages, one line each, to the command.
    do {
      for try await frame in session.incoming {
        var line = frame.data
        line.append(10)
        try await child.write(line)
      }
    } catch {
      // The session failed or the command stopped reading: the end below applies either way.
    }
    try? await child.shutdownOutput()
    let exited = await waitForExit(pid, within: .seconds(2))
    if !exited { kill(pid, SIGTERM) }
    if await !waitForExit(pid, within: .seconds(1)) { kill(pid, SIGKILL) }
    _ = await reap(pid)
    fromCommand.cancel()
    _ = await fromCommand.result
    await child.close()
  }

  /// Where coreutils' `stdbuf` is: commands run under `stdbuf -oL`, so that a program that block-buffers a
  /// non-terminal output (`tr`, `grep`, `sed`, most C programs) answers each line as it comes instead of at exit.
  static let stdbuf = access("/usr/bin/stdbuf", X_OK) == 0 ? "/usr/bin/stdbuf" : nil

  /// `/bin/sh -c command` (under `stdbuf -oL` when there is one) with `stdio` as its standard input and output.
  private static func spawn(_ command: String, stdio: Int32, extraEnvironment: [String]) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdio, 0)
    posix_spawn_file_actions_adddup2(&actions, stdio, 1)
    let words: [String] = (stdbuf.map { [$0, "-oL"] } ?? []) + ["/bin/sh", "-c", command]
    var arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { for argument in arguments { free(argument) } }
    var environment: [UnsafeMutablePointer<CChar>?] = []
    var index = 0
    while let entry = environ[index] {
      environment.append(strdup(entry))
      index += 1
    }
    environment += extraEnvironment.map { strdup($0) }
    environment.append(nil)
    defer { for entry in environment { free(entry) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, words[0], &actions, nil, &arguments, &environment) == 0 else { return nil }
    return pid
  }

  /// Whether `pid` has exited within `limit` (polled every 20 ms without reaping it).
  private static func waitForExit(_ pid: pid_t, within limit: Duration) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
      var info = siginfo_t()
      if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid {
        return true
      }
      try? await Task.sleep(for: .milliseconds(20))
    }
    return false
  }

  private static func reap(_ pid: pid_t) async -> Int32 {
    await runOnDedicatedThread {
      var status: Int32 = 0
      waitpid(pid, &status, 0)
      return status
    }
  }
}
