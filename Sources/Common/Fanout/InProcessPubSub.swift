import Synchronization

/// A ``PubSubBackend`` between the hubs of one process: each hub gets its own backend from one bus
/// (``makeBackend()``), and a message published in one hub reaches the subscribers of the others. For several
/// servers in one process, and the reference for backends' behaviour in tests.
public final class InProcessPubSub: Sendable {
  private let members = Mutex<[ObjectIdentifier: Member]>([:])

  /// A bus with no hubs.
  public init() {}

  /// A backend on this bus for one ``Topics``.
  public func makeBackend() -> any PubSubBackend { Member(bus: self) }

  fileprivate func join(_ member: Member) { members.withLock { $0[ObjectIdentifier(member)] = member } }
  fileprivate func leave(_ member: Member) { members.withLock { $0[ObjectIdentifier(member)] = nil } }

  fileprivate func carry(_ message: TopicMessage, to topic: String, from sender: Member) {
    let others = members.withLock { $0.values.filter { $0 !== sender } }
    for member in others { member.receive(message, topic: topic) }
  }

  fileprivate final class Member: PubSubBackend {
    private struct State {
      weak var sink: (any PubSubSink)?
      var topics: Set<String> = []
    }
    private let bus: InProcessPubSub
    private let state = Mutex(State())

    init(bus: InProcessPubSub) { self.bus = bus }

    func attach(_ sink: any PubSubSink) {
      state.withLock { $0.sink = sink }
      bus.join(self)
      sink.backendEvent(.connected)
    }

    func subscribe(_ topic: String) { _ = state.withLock { $0.topics.insert(topic) } }
    func unsubscribe(_ topic: String) { _ = state.withLock { $0.topics.remove(topic) } }

    func publish(_ message: TopicMessage, to topic: String) throws(PubSubError) {
      guard state.withLock({ $0.sink != nil }) else { throw .shutDown }
      bus.carry(message, to: topic, from: self)
    }

    func receive(_ message: TopicMessage, topic: String) {
      let sink = state.withLock { $0.topics.contains(topic) ? $0.sink : nil }
      sink?.deliver(message, to: topic)
    }

    func shutdown() async {
      state.withLock { $0.sink = nil }
      bus.leave(self)
    }
  }
}
