import Glibc
import Synchronization
import WispCommon

/// A fixed set of event loops, one thread each; connections are spread over them round-robin.
public final class EventLoopGroup: Sendable {
  /// The loops.
  public let loops: [EventLoop]
  private let nextIndex = Atomic<Int>(0)

  /// Creates `loopCount` loops (default: one per online core, so a 2-core machine runs 2 loops).
  public init(loopCount: Int = EventLoopGroup.coreCount) throws(TransportError) {
    var loops: [EventLoop] = []
    for index in 0..<max(1, loopCount) { loops.append(try EventLoop(index: index)) }
    self.loops = loops
  }

  /// The number of online cores.
  public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  /// A process-wide group with one loop per core, created on first use; clients use it by default.
  public static let shared: EventLoopGroup = {
    do {
      return try EventLoopGroup()
    } catch {
      fatalError("cannot start the shared event loops: \(error)")
    }
  }()

  /// The next loop, round-robin.
  public func next() -> EventLoop {
    let index = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
    return loops[index % loops.count]
  }

  /// Stops every loop. Close the sockets first.
  public func shutdown() {
    for loop in loops { loop.shutdown() }
  }
}
