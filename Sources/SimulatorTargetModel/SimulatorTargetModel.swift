import WispCommon

/// The iOS-x64 simulator target's constraints as data (issue 7). Until they land, this namespace only names the
/// modelled target.
public enum SimulatorTargetModel {
  /// The modelled target.
  public static let target = "iosX64"
}
