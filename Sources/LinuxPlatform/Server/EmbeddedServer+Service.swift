import ServiceLifecycle

/// The embedded server as a swift-service-lifecycle `Service`: a `ServiceGroup` starts it, and on graceful shutdown
/// (SIGTERM, or `triggerGracefulShutdown()`) it stops accepting and closes every session with 1001 "Server is
/// shutting down", bounded by ``Configuration/shutdownGracePeriod``.
///
/// ```swift
/// let server = EmbeddedServer(application, configuration: .init(endpoint: .host("0.0.0.0", port: 8080)))
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
extension EmbeddedServer: Service {
  /// Starts listening (unless ``start()`` was called already), serves until the group shuts down gracefully or the
  /// task is cancelled, then ``stop()``s.
  ///
  /// - Throws: what ``start()`` throws (the address is taken, the certificate cannot be loaded).
  public func run() async throws {
    if localAddress == nil { try await start() }
    // Returns at graceful shutdown; throws when the task is cancelled: both end in the same bounded stop.
    try? await gracefulShutdown()
    await stop()
  }
}
