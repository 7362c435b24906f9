// swift-log's `Logger` is part of the API (``Application/logger``, the client plugin's `logger`).
@_exported import Logging
// The umbrella module: `import Wisp` brings the protocol core, the Linux platform and the target model.
@_exported import WispCommon
@_exported import WispLinuxPlatform
@_exported import WispSimulatorTargetModel
